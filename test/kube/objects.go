package kube

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/pilotlight/pilotlight/test/harness"
)

// LocalAddressAnnotation gives a pod's sidecar its loopback "localhost" in
// local mode (see docs/kubernetes-contract.md).
const LocalAddressAnnotation = "sidecar.pilotlight.io/local-address"

// CreateNamespace creates a namespace and waits until the controller-manager
// has created its default ServiceAccount (Pod admission refuses pods
// until then).
func (c *Cluster) CreateNamespace(name string) *corev1.Namespace {
	t := c.T
	t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kube: creating namespace %s: %v", name, err)
	}
	err = harness.Eventually(opTimeout, 20*time.Millisecond, func() error {
		ctx, cancel := c.ctx()
		defer cancel()
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("kube: namespace %s: no default ServiceAccount: %v", name, err)
	}
	return ns
}

// HTTPPort is one container port named http.
func HTTPPort(port int32) []corev1.ContainerPort {
	return []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}}
}

// HTTPService is a Service name in ns selecting app=name with one port
// named http: port -> targetPort.
func HTTPService(ns, name string, port, targetPort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: port, TargetPort: intstr.FromInt32(targetPort), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// CreateService creates svc (its ClusterIP comes from ServiceCIDR).
func (c *Cluster) CreateService(svc *corev1.Service) *corev1.Service {
	t := c.T
	t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	out, err := c.Client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kube: creating service %s/%s: %v", svc.Namespace, svc.Name, err)
	}
	return out
}

// DeleteService deletes a Service.
func (c *Cluster) DeleteService(ns, name string) {
	t := c.T
	t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.Client.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("kube: deleting service %s/%s: %v", ns, name, err)
	}
}

// EndpointSliceAddresses returns the addresses of the service's
// EndpointSlices, "ip" each, sorted; ready only when readyOnly.
func (c *Cluster) EndpointSliceAddresses(ns, service string, readyOnly bool) ([]string, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	list, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{discoveryv1.LabelServiceName: service}.String(),
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if readyOnly && (ep.Conditions.Ready == nil || !*ep.Conditions.Ready) {
				continue
			}
			out = append(out, ep.Addresses...)
		}
	}
	sort.Strings(out)
	return out, nil
}

// WaitEndpointSlice waits until the service's ready EndpointSlice
// addresses are exactly want (in any order).
func (c *Cluster) WaitEndpointSlice(ns, service string, want []string, timeout time.Duration) error {
	w := append([]string(nil), want...)
	sort.Strings(w)
	return harness.Eventually(timeout, 10*time.Millisecond, func() error {
		got, err := c.EndpointSliceAddresses(ns, service, true)
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != strings.Join(w, ",") {
			return fmt.Errorf("EndpointSlices of %s/%s: ready addresses %q, want %q", ns, service, got, w)
		}
		return nil
	})
}

// Kubelet plays the kubelet (and the scheduler) of one Node for the pods
// a test runs: it creates pods bound to its node and writes their status.
// Pod IPs are data only: nothing listens on them, nothing connects to them.
type Kubelet struct {
	C    *Cluster
	Node string
}

// Kubelet returns the kubelet of node name, creating the Node object the
// first time.
func (c *Cluster) Kubelet(name string) *Kubelet {
	t := c.T
	t.Helper()
	c.mu.Lock()
	k := c.kubelets[name]
	c.mu.Unlock()
	if k != nil {
		return k
	}
	ctx, cancel := c.ctx()
	defer cancel()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kube: creating node %s: %v", name, err)
	}
	k = &Kubelet{C: c, Node: name}
	c.mu.Lock()
	c.kubelets[name] = k
	c.mu.Unlock()
	return k
}

// NextPodIP returns a fresh address from PodCIDR: 10.244.0.1, 10.244.0.2, ...
func (c *Cluster) NextPodIP() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nextIP
	c.nextIP++
	return fmt.Sprintf("10.244.%d.%d", n/250, n%250+1)
}

// PodOptions describe a pod for Kubelet.RunPod.
type PodOptions struct {
	Namespace, Name string
	Labels          map[string]string
	Annotations     map[string]string
	// Ports of the one container (none for a client pod).
	Ports []corev1.ContainerPort
	// IP is status.podIP; empty: the cluster's NextPodIP.
	IP string
	// NotReady leaves the Ready condition False (phase Running).
	NotReady bool
}

// RunPod creates a pod bound to the kubelet's node (spec.nodeName set at
// creation, as after scheduling), then writes its status as a kubelet
// would once its containers run: phase Running, podIP, and the Ready
// condition (True unless NotReady). It returns the pod as stored.
func (k *Kubelet) RunPod(o PodOptions) *corev1.Pod {
	t := k.C.T
	t.Helper()
	if o.IP == "" {
		o.IP = k.C.NextPodIP()
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, Labels: o.Labels, Annotations: o.Annotations},
		Spec: corev1.PodSpec{
			NodeName: k.Node,
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "pilotlight/echo:dev", // never pulled: there is no kubelet
				Ports: o.Ports,
			}},
			// Deleting a pod needs no kubelet to confirm it.
			TerminationGracePeriodSeconds: new(int64),
		},
	}
	ctx, cancel := k.C.ctx()
	defer cancel()
	created, err := k.C.Client.CoreV1().Pods(o.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kube: creating pod %s/%s: %v", o.Namespace, o.Name, err)
	}
	now := metav1.Now()
	created.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    "10.0.0.1", // data only, like the pod IP
		HostIPs:   []corev1.HostIP{{IP: "10.0.0.1"}},
		PodIP:     o.IP,
		PodIPs:    []corev1.PodIP{{IP: o.IP}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: boolCondition(!o.NotReady), LastTransitionTime: now},
			{Type: corev1.PodReady, Status: boolCondition(!o.NotReady), LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "pilotlight/echo:dev", ImageID: "", Ready: !o.NotReady,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	out, err := k.C.Client.CoreV1().Pods(o.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("kube: writing the status of pod %s/%s: %v", o.Namespace, o.Name, err)
	}
	return out
}

func boolCondition(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// SetReady sets the pod's Ready (and ContainersReady) condition, as a
// kubelet does when a readiness probe starts or stops passing.
func (k *Kubelet) SetReady(ns, name string, ready bool) {
	t := k.C.T
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ctx, cancel := k.C.ctx()
		defer cancel()
		pod, err := k.C.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		for _, typ := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
			found := false
			for i := range pod.Status.Conditions {
				cd := &pod.Status.Conditions[i]
				if cd.Type == typ {
					found = true
					if cd.Status != boolCondition(ready) {
						cd.Status, cd.LastTransitionTime = boolCondition(ready), now
					}
				}
			}
			if !found {
				pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: typ, Status: boolCondition(ready), LastTransitionTime: now})
			}
		}
		for i := range pod.Status.ContainerStatuses {
			pod.Status.ContainerStatuses[i].Ready = ready
		}
		_, err = k.C.Client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("kube: setting Ready=%v on pod %s/%s: %v", ready, ns, name, err)
	}
}

// DeletePod deletes a pod at once (grace period 0: no kubelet has to
// confirm that its containers stopped).
func (c *Cluster) DeletePod(ns, name string) {
	t := c.T
	t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil {
		t.Fatalf("kube: deleting pod %s/%s: %v", ns, name, err)
	}
}

// Scale makes the pods labelled app=<app>,version=<version> in ns exactly
// n, as a ReplicaSet would (there is no controller for that here): it runs
// pods named <app>-<version>-<i> with container ports ports, lowest free i
// first, or deletes the ones with the highest i. It returns the pods
// created (scale up) or deleted (scale down).
func (k *Kubelet) Scale(ns, app, version string, n int, ports []corev1.ContainerPort) []*corev1.Pod {
	t := k.C.T
	t.Helper()
	pods := k.C.PodsWithLabels(ns, map[string]string{"app": app, "version": version})
	prefix := app + "-" + version + "-"
	byIndex := map[int]*corev1.Pod{}
	var indices []int
	for _, p := range pods {
		i, err := strconv.Atoi(strings.TrimPrefix(p.Name, prefix))
		if err != nil || !strings.HasPrefix(p.Name, prefix) {
			i = -1 - len(byIndex) // not ours by name: delete those first
		}
		byIndex[i] = p
		indices = append(indices, i)
	}
	sort.Ints(indices)
	var changed []*corev1.Pod
	for len(indices) > n { // scale down: highest index first
		last := indices[len(indices)-1]
		if first := indices[0]; first < 0 {
			last = first
			indices = indices[1:]
		} else {
			indices = indices[:len(indices)-1]
		}
		p := byIndex[last]
		k.C.DeletePod(ns, p.Name)
		changed = append(changed, p)
	}
	have := map[int]bool{}
	for _, i := range indices {
		have[i] = true
	}
	for i := 0; len(indices) < n; i++ {
		if have[i] {
			continue
		}
		p := k.RunPod(PodOptions{
			Namespace: ns, Name: fmt.Sprintf("%s%d", prefix, i),
			Labels: map[string]string{"app": app, "version": version}, Ports: ports,
		})
		indices = append(indices, i)
		changed = append(changed, p)
	}
	return changed
}

// PodsWithLabels lists the pods of ns that carry all of sel, by name.
func (c *Cluster) PodsWithLabels(ns string, sel map[string]string) []*corev1.Pod {
	t := c.T
	t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set(sel).String()})
	if err != nil {
		t.Fatalf("kube: listing pods of %s: %v", ns, err)
	}
	out := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
