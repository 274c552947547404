package kube

import (
	"context"
	"log/slog"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	networkinglisters "istio.io/client-go/pkg/listers/networking/v1"
	networkingv1alpha3listers "istio.io/client-go/pkg/listers/networking/v1alpha3"
	securitylisters "istio.io/client-go/pkg/listers/security/v1"
	telemetrylisters "istio.io/client-go/pkg/listers/telemetry/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// informers are the caches the snapshot is built from: one shared factory
// for Kubernetes kinds and one for Istio kinds, both without resync (a
// resync would only replay what the caches already hold).
type informers struct {
	kube  kubeinformers.SharedInformerFactory
	istio istioinformers.SharedInformerFactory

	services         corelisters.ServiceLister
	pods             corelisters.PodLister
	slices           discoverylisters.EndpointSliceLister
	secrets          corelisters.SecretLister
	virtualServices  networkinglisters.VirtualServiceLister
	destinationRules networkinglisters.DestinationRuleLister
	gateways         networkinglisters.GatewayLister
	envoyFilters     networkingv1alpha3listers.EnvoyFilterLister
	peerAuths        securitylisters.PeerAuthenticationLister
	sidecars         networkinglisters.SidecarLister
	// rateLimits: nil without a dynamic client or the CRD (ratelimitpolicy.go).
	rateLimits *policyInformer

	authorizationPolicies  securitylisters.AuthorizationPolicyLister
	requestAuthentications securitylisters.RequestAuthenticationLister
	// telemetries: Istio's Telemetry, for its tracing part.
	telemetries telemetrylisters.TelemetryLister

	// rootNamespace goes into every snapshot (discovery.Snapshot.RootNamespace).
	rootNamespace string

	// synced reports, per informer, whether its initial list has been
	// handed to the event handler.
	synced []cache.InformerSynced
}

// newInformers sets up the informers and calls onChange after any change to
// what they watch.
func newInformers(kc kubernetes.Interface, ic istioclient.Interface, dyn dynamic.Interface, log *slog.Logger, onChange func()) (*informers, error) {
	kf := kubeinformers.NewSharedInformerFactoryWithOptions(kc, 0, kubeinformers.WithTransform(dropManagedFields))
	isf := istioinformers.NewSharedInformerFactoryWithOptions(ic, 0, istioinformers.WithTransform(dropManagedFields))
	secrets := kf.InformerFor(&corev1.Secret{}, newSecretInformer)
	inf := &informers{
		kube:             kf,
		istio:            isf,
		services:         kf.Core().V1().Services().Lister(),
		pods:             kf.Core().V1().Pods().Lister(),
		slices:           kf.Discovery().V1().EndpointSlices().Lister(),
		secrets:          corelisters.NewSecretLister(secrets.GetIndexer()),
		virtualServices:  isf.Networking().V1().VirtualServices().Lister(),
		destinationRules: isf.Networking().V1().DestinationRules().Lister(),
		gateways:         isf.Networking().V1().Gateways().Lister(),
		envoyFilters:     isf.Networking().V1alpha3().EnvoyFilters().Lister(),
		peerAuths:        isf.Security().V1().PeerAuthentications().Lister(),
		sidecars:         isf.Networking().V1().Sidecars().Lister(),
		rateLimits:       newPolicyInformer(kc, dyn, log),

		authorizationPolicies:  isf.Security().V1().AuthorizationPolicies().Lister(),
		requestAuthentications: isf.Security().V1().RequestAuthentications().Lister(),
		telemetries:            isf.Telemetry().V1().Telemetries().Lister(),
	}
	// Namespaces go into no snapshot yet; they are watched so that the
	// cache is warm and readiness covers them when namespace labels start
	// to matter (sidecar injection, policy scoping).
	inf.synced = append(inf.synced, kf.Core().V1().Namespaces().Informer().HasSynced)
	// Every security kind is in the snapshot (PeerAuthentication,
	// AuthorizationPolicy, RequestAuthentication).
	err := inf.notify(onChange,
		kf.Core().V1().Services().Informer(),
		kf.Core().V1().Pods().Informer(),
		kf.Discovery().V1().EndpointSlices().Informer(),
		secrets,
		isf.Networking().V1().VirtualServices().Informer(),
		isf.Networking().V1().DestinationRules().Informer(),
		isf.Networking().V1().Gateways().Informer(),
		isf.Networking().V1alpha3().EnvoyFilters().Informer(),
		isf.Security().V1().PeerAuthentications().Informer(),
		isf.Networking().V1().Sidecars().Informer(),
		isf.Security().V1().AuthorizationPolicies().Informer(),
		isf.Security().V1().RequestAuthentications().Informer(),
		isf.Telemetry().V1().Telemetries().Informer(),
	)
	if err == nil && inf.rateLimits != nil {
		err = inf.notify(onChange, inf.rateLimits.informer)
	}
	return inf, err
}

// notify calls onChange on every change the informers see, and counts them
// in readiness: synced once each has handed its initial list over.
func (inf *informers) notify(onChange func(), watched ...cache.SharedIndexInformer) error {
	for _, informer := range watched {
		reg, err := informer.AddEventHandler(changeHandler(onChange))
		if err != nil {
			return err
		}
		inf.synced = append(inf.synced, reg.HasSynced)
	}
	return nil
}

// newSecretInformer watches the Secrets that may hold a gateway's TLS
// material. Like Istio, it leaves out the two kinds that are many, large and
// never TLS: service account tokens and Helm releases.
func newSecretInformer(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
	notTLS := fields.AndSelectors(
		fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)),
		fields.OneTermNotEqualSelector("type", "helm.sh/release.v1"),
	).String()
	return coreinformers.NewFilteredSecretInformer(c, metav1.NamespaceAll, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.FieldSelector = notTLS })
}

// changeHandler calls onChange for every add, delete and real update.
func changeHandler(onChange func()) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { onChange() },
		UpdateFunc: func(old, cur any) {
			if !sameVersion(old, cur) {
				onChange()
			}
		},
		DeleteFunc: func(any) { onChange() },
	}
}

// sameVersion reports whether an update is a replay: a relist after a broken
// watch hands every object over again as an update, and the ones whose
// resourceVersion did not move changed nothing. (Fake clientsets leave
// resourceVersion empty; that is never the same version.)
func sameVersion(old, cur any) bool {
	o, ok1 := old.(metav1.Object)
	c, ok2 := cur.(metav1.Object)
	return ok1 && ok2 && o.GetResourceVersion() != "" && o.GetResourceVersion() == c.GetResourceVersion()
}

// dropManagedFields trims what the caches keep: server-side apply's field
// ownership is often the largest part of an object, and nothing reads it.
func dropManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

func (inf *informers) start(ctx context.Context) {
	inf.kube.Start(ctx.Done())
	inf.istio.Start(ctx.Done())
	inf.rateLimits.start(ctx.Done())
}

// shutdown waits for the informers' goroutines to end; call it once ctx is
// done.
func (inf *informers) shutdown() {
	inf.kube.Shutdown()
	inf.istio.Shutdown()
	inf.rateLimits.shutdown()
}
