package load

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	networking "istio.io/api/networking/v1"
	clientnetworking "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/pilotlight/pilotlight/authn"
	"github.com/pilotlight/pilotlight/test/harness"
	"github.com/pilotlight/pilotlight/test/kube"
)

// kubeSource puts the mesh into the real kube-apiserver of test/kube (the
// EndpointSlice controller makes the slices) and serves it with
// `pilotlight serve --kubeconfig`. Pods are created bound to a node and
// their status written as a kubelet would (test/kube.Kubelet).
type kubeSource struct {
	c    *kube.Cluster
	node string
}

// createWorkers bounds the harness's concurrent API calls.
const createWorkers = 16

func (k *kubeSource) start(t testing.TB, m Mesh, proxies int, serverArgs []string) *server {
	t.Helper()
	k.c = kube.Start(t)
	k.c.CreateNamespace("pilotlight-system") // the mesh CA's Secret and the Lease
	k.node = k.c.Kubelet("load-node").Node
	for i := 0; i < m.namespaces(); i++ {
		k.c.CreateNamespace(namespace(i))
		if m.Scoped {
			k.do(t, []func(context.Context) error{func(ctx context.Context) error {
				_, err := k.c.Istio.NetworkingV1().Sidecars(namespace(i)).Create(ctx, sidecarObject(namespace(i)), metav1.CreateOptions{})
				return err
			}})
		}
	}
	start := time.Now()
	var ops []func(context.Context) error
	svcs := m.services()
	for _, svc := range svcs {
		ops = append(ops, k.createService(svc)...)
	}
	k.do(t, ops)
	t.Logf("kube: %d services, their pods and rules created in %v", len(svcs), time.Since(start).Round(time.Millisecond))
	// The controller-manager makes the EndpointSlices: wait for the last
	// service's, then for every one.
	for _, svc := range svcs {
		want := make([]string, 0, len(svc.Pods))
		for _, p := range svc.Pods {
			want = append(want, p.IP)
		}
		if err := k.c.WaitEndpointSlice(svc.Namespace, svc.Name, sortedStrings(want), 5*time.Minute); err != nil {
			t.Fatalf("kube: endpoint slice of %s: %v", svc.Host(), err)
		}
	}
	t.Logf("kube: endpoint slices in place after %v", time.Since(start).Round(time.Millisecond))
	srv := startServer(t, append([]string{"--kubeconfig", k.c.Kubeconfig, "--identity", "load", "--leader-election-namespace", "pilotlight-system"}, serverArgs...))
	srv.creds = k.credentials(t, m.proxies(proxies))
	return srv
}

// credentials are what the kubelet mounts into an injected pod: a
// projected ServiceAccount token bound to the pod (a real TokenRequest,
// made here for every pod that will connect, before anything is timed)
// and the istio-ca-root-cert ConfigMap pilotlight publishes.
func (k *kubeSource) credentials(t testing.TB, pods []pod) Credentials {
	t.Helper()
	var root string
	err := harness.Eventually(time.Minute, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cm, err := k.c.Client.CoreV1().ConfigMaps(namespace(0)).Get(ctx, "istio-ca-root-cert", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if root = cm.Data["root-cert.pem"]; root == "" {
			return fmt.Errorf("istio-ca-root-cert has no root-cert.pem")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kube: root ConfigMap: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(root)) {
		t.Fatal("kube: no certificate in istio-ca-root-cert")
	}
	tokens := &sync.Map{}
	var ops []func(context.Context) error
	for _, pd := range pods {
		ops = append(ops, func(ctx context.Context) error {
			pod, err := k.c.Client.CoreV1().Pods(pd.Namespace).Get(ctx, pd.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			tokens.Store(pd.Namespace+"/"+pd.Name, k.c.PodToken(pod, authn.TokenAudience, 24*time.Hour))
			return nil
		})
	}
	k.do(t, ops)
	return TokenTLS{Roots: pool, ServerName: "127.0.0.1", Token: func(p Proxy) (string, error) {
		if tok, ok := tokens.Load(p.Namespace + "/" + p.Pod); ok {
			return tok.(string), nil
		}
		return "", fmt.Errorf("no token for pod %s/%s", p.Namespace, p.Pod)
	}}
}

// do runs the operations on createWorkers goroutines; the first error
// fails the test.
func (k *kubeSource) do(t testing.TB, ops []func(context.Context) error) {
	t.Helper()
	work := make(chan func(context.Context) error)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < createWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range work {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := retry.OnError(retry.DefaultBackoff, func(error) bool { return true }, func() error { return op(ctx) })
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, op := range ops {
		work <- op
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("kube: %v", firstErr)
	}
}

func (k *kubeSource) createService(svc service) []func(context.Context) error {
	ops := []func(context.Context) error{
		func(ctx context.Context) error {
			_, err := k.c.Client.CoreV1().Services(svc.Namespace).Create(ctx, kube.HTTPService(svc.Namespace, svc.Name, 80, 8080), metav1.CreateOptions{})
			return ignoreExists(err)
		},
		func(ctx context.Context) error {
			_, err := k.c.Istio.NetworkingV1().DestinationRules(svc.Namespace).Create(ctx, destinationRuleObject(svc), metav1.CreateOptions{})
			return ignoreExists(err)
		},
		func(ctx context.Context) error {
			_, err := k.c.Istio.NetworkingV1().VirtualServices(svc.Namespace).Create(ctx, virtualServiceObject(svc, defaultWeights), metav1.CreateOptions{})
			return ignoreExists(err)
		},
	}
	for _, p := range svc.Pods {
		ops = append(ops, func(ctx context.Context) error { return k.runPod(ctx, p) })
	}
	return ops
}

// runPod creates a pod on the node and writes its status: Running, ready.
func (k *kubeSource) runPod(ctx context.Context, p pod) error {
	pods := k.c.Client.CoreV1().Pods(p.Namespace)
	created, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		created, err = pods.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: map[string]string{"app": p.App, "version": p.Version}},
			Spec: corev1.PodSpec{NodeName: k.node, TerminationGracePeriodSeconds: new(int64), Containers: []corev1.Container{{
				Name: "app", Image: "pilotlight/echo:dev", Ports: kube.HTTPPort(8080),
			}}},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
	}
	if created.Status.PodIP == p.IP {
		return nil
	}
	now := metav1.Now()
	created.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: p.IP, PodIPs: []corev1.PodIP{{IP: p.IP}}, HostIP: "10.0.0.1", StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	_, err = pods.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

func (k *kubeSource) setReady(t testing.TB, _ service, p pod, ready bool) {
	k.c.Kubelet(k.node).SetReady(p.Namespace, p.Name, ready)
}

func (k *kubeSource) setWeights(t testing.TB, svc service, w weights) {
	t.Helper()
	api := k.c.Istio.NetworkingV1().VirtualServices(svc.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cur, err := api.Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		next := virtualServiceObject(svc, w)
		next.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("kube: updating VirtualService %s: %v", svc.Host(), err)
	}
}

func destinationRuleObject(svc service) *clientnetworking.DestinationRule {
	return &clientnetworking.DestinationRule{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace},
		Spec: networking.DestinationRule{Host: svc.Name, Subsets: []*networking.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}},
			{Name: "v2", Labels: map[string]string{"version": "v2"}},
		}},
	}
}

func virtualServiceObject(svc service, w weights) *clientnetworking.VirtualService {
	return &clientnetworking.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace},
		Spec: networking.VirtualService{Hosts: []string{svc.Name}, Http: []*networking.HTTPRoute{{Route: []*networking.HTTPRouteDestination{
			{Destination: &networking.Destination{Host: svc.Name, Subset: "v1"}, Weight: int32(w.v1)},
			{Destination: &networking.Destination{Host: svc.Name, Subset: "v2"}, Weight: int32(w.v2)},
		}}}},
	}
}

func sidecarObject(ns string) *clientnetworking.Sidecar {
	return &clientnetworking.Sidecar{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec:       networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*"}}}},
	}
}

func ignoreExists(err error) error {
	if err != nil && isAlreadyExists(err) {
		return nil
	}
	return err
}

func (k *kubeSource) String() string { return fmt.Sprintf("kube-apiserver %s", k.c.Server) }

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
