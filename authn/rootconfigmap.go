package authn

import (
	"bytes"
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The root's ConfigMap in every namespace, named as Istio names it, so
// that sidecars (and tools written for Istio) find the mesh root where
// they look for it: the xDS client's root, mounted into the pod.
const (
	RootConfigMapName = "istio-ca-root-cert"
	RootConfigMapKey  = RootCertFile // "root-cert.pem"
)

// RootPublisher keeps RootConfigMapName, holding the CA's roots, in every
// namespace: created when a namespace appears, put back when deleted or
// edited. Every replica may run one: they write the same content, and
// write only when it differs.
type RootPublisher struct {
	client kubernetes.Interface
	roots  []byte
	log    *slog.Logger
}

// NewRootPublisher publishes roots (PEM).
func NewRootPublisher(client kubernetes.Interface, roots []byte, log *slog.Logger) *RootPublisher {
	return &RootPublisher{client: client, roots: roots, log: log}
}

// Run publishes until ctx is done.
func (p *RootPublisher) Run(ctx context.Context) {
	nsFactory := informers.NewSharedInformerFactory(p.client, 0)
	// Only our ConfigMaps: a cluster has many others.
	cmFactory := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", RootConfigMapName).String()
	}))
	namespaces := nsFactory.Core().V1().Namespaces()
	configMaps := cmFactory.Core().V1().ConfigMaps()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	// Both kinds queue the namespace to check: a Namespace by its name, a
	// ConfigMap by its namespace.
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { queue.Add(namespaceOf(o)) },
		UpdateFunc: func(_, o any) { queue.Add(namespaceOf(o)) },
		DeleteFunc: func(o any) { queue.Add(namespaceOf(o)) },
	}
	for _, inf := range []cache.SharedIndexInformer{namespaces.Informer(), configMaps.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			p.log.Error("root ConfigMaps: cannot watch", "error", err)
			return
		}
	}
	nsFactory.Start(ctx.Done())
	cmFactory.Start(ctx.Done())
	defer nsFactory.Shutdown()
	defer cmFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), namespaces.Informer().HasSynced, configMaps.Informer().HasSynced) {
		return
	}
	go func() { <-ctx.Done(); queue.ShutDown() }()
	for {
		ns, quit := queue.Get()
		if quit {
			return
		}
		if err := p.ensure(ctx, namespaces.Lister().Get, configMaps.Lister().ConfigMaps(ns).Get, ns); err != nil {
			p.log.Warn("cannot publish the root ConfigMap; retrying", "namespace", ns, "error", err)
			queue.AddRateLimited(ns)
		} else {
			queue.Forget(ns)
		}
		queue.Done(ns)
	}
}

// namespaceOf is a Namespace's name or a namespaced object's namespace
// (also for a deleted object seen late, a tombstone).
func namespaceOf(obj any) string {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if n, ok := obj.(*corev1.Namespace); ok {
		return n.Name
	}
	if o, ok := obj.(metav1.Object); ok {
		return o.GetNamespace()
	}
	return ""
}

// ensure creates or corrects the ConfigMap of one namespace.
func (p *RootPublisher) ensure(ctx context.Context, getNS func(string) (*corev1.Namespace, error), getCM func(string) (*corev1.ConfigMap, error), ns string) error {
	n, err := getNS(ns)
	if apierrors.IsNotFound(err) || (err == nil && n.Status.Phase == corev1.NamespaceTerminating) {
		return nil
	}
	if err != nil {
		return err
	}
	cms := p.client.CoreV1().ConfigMaps(ns)
	cm, err := getCM(RootConfigMapName)
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootConfigMapName, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "pilotlight"}},
			Data:       map[string]string{RootConfigMapKey: string(p.roots)},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // another replica, or our cache is behind: the update event follows
		}
		return err
	case err != nil:
		return err
	case bytes.Equal([]byte(cm.Data[RootConfigMapKey]), p.roots):
		return nil
	}
	next := cm.DeepCopy()
	if next.Data == nil {
		next.Data = map[string]string{}
	}
	next.Data[RootConfigMapKey] = string(p.roots)
	_, err = cms.Update(ctx, next, metav1.UpdateOptions{})
	return err
}
