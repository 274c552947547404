package translate

import (
	"fmt"
	"sort"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/discovery"
)

// EnvoyFilters are applied after translation, to each proxy's own view, as
// Istio applies them (pilot/pkg/networking/core/envoyfilter):
//
//   - scope: the root namespace's EnvoyFilters and the proxy's namespace's,
//     narrowed by workloadSelector;
//   - order: priority, then the root namespace's first, then by name;
//   - each patch in turn, level by level: clusters (REMOVE, MERGE, then
//     ADD), listeners (LISTENER, then NETWORK_FILTER and HTTP_FILTER
//     operations before their MERGEs, then the inline route tables of
//     inbound listeners), then route tables (ROUTE_CONFIGURATION,
//     VIRTUAL_HOST, HTTP_ROUTE).
//
// Two things differ from Istio, on purpose. A patch whose result would
// make Envoy reject the resource (its own Validate and the checks in
// envoyfilter_check.go) is not applied to it, and said so: an EnvoyFilter
// can never make a proxy NACK. And a patch that matched nothing is said so
// too (PatchProblems), where Istio is silent.
//
// Shared resources (clusters, a namespace's route table) are cloned before
// a patch touches them, so other proxies' views stay as translated.

// envoyFilterPatch is one configPatch of an EnvoyFilter, its value decoded
// into the Envoy type it patches.
type envoyFilterPatch struct {
	filter  *discovery.EnvoyFilter
	index   int
	applyTo networking.EnvoyFilter_ApplyTo
	op      networking.EnvoyFilter_Patch_Operation
	match   *networking.EnvoyFilter_EnvoyConfigObjectMatch // never nil: no match is ANY
	value   proto.Message                                  // nil for REMOVE
}

func (p *envoyFilterPatch) key() PatchKey { return PatchKey{Filter: p.filter.Key(), Index: p.index} }

// PatchKey names one patch: its EnvoyFilter (namespace/name) and its index
// in spec.configPatches.
type PatchKey struct {
	Filter string
	Index  int
}

// PatchResult is what one patch did to one proxy's view: matched something
// (and was applied), or not; and the resources it was not applied to
// because Envoy would have rejected the result.
type PatchResult struct {
	PatchKey
	Matched  bool
	Rejected []string
}

// compiledEnvoyFilters are a snapshot's EnvoyFilters, decoded once.
type compiledEnvoyFilters struct {
	root     string // the root namespace
	filters  []*compiledEnvoyFilter
	problems []discovery.Problem
}

type compiledEnvoyFilter struct {
	filter  *discovery.EnvoyFilter
	patches []*envoyFilterPatch
}

// compileEnvoyFilters decodes every patch value. An EnvoyFilter with a
// value that does not decode into its Envoy type is left out whole (as
// discovery leaves out invalid objects) and reported; so is one that
// selects no pod of the mesh.
func compileEnvoyFilters(snap *discovery.Snapshot) *compiledEnvoyFilters {
	out := &compiledEnvoyFilters{root: snap.Root()}
	for _, f := range snap.EnvoyFilters {
		cf := &compiledEnvoyFilter{filter: f}
		ok := true
		for i, cp := range f.Spec.GetConfigPatches() {
			p, err := compilePatch(f, i, cp)
			if err != nil {
				out.problems = append(out.problems, envoyFilterProblem(f, discovery.EnvoyFilterPatchField(i)+".patch.value", err.Error()))
				ok = false
				continue
			}
			cf.patches = append(cf.patches, p)
		}
		if !ok {
			continue
		}
		if !selectsAnyPod(snap, f) {
			out.problems = append(out.problems, envoyFilterProblem(f, "spec.workloadSelector", "selects no pod of the mesh: nothing is patched"))
		}
		out.filters = append(out.filters, cf)
	}
	return out
}

func selectsAnyPod(snap *discovery.Snapshot, f *discovery.EnvoyFilter) bool {
	for _, pod := range snap.Pods {
		if f.SelectsPod(snap.Root(), pod) {
			return true
		}
	}
	return false
}

func envoyFilterProblem(f *discovery.EnvoyFilter, field, reason string) discovery.Problem {
	return discovery.Problem{Source: f.Key(), Kind: "EnvoyFilter", Name: f.Key(), Field: field, Reason: reason}
}

// patchValueTypes: the Envoy message a patch value is, by what it applies to.
var patchValueTypes = map[networking.EnvoyFilter_ApplyTo]func() proto.Message{
	networking.EnvoyFilter_LISTENER:            func() proto.Message { return &listener.Listener{} },
	networking.EnvoyFilter_NETWORK_FILTER:      func() proto.Message { return &listener.Filter{} },
	networking.EnvoyFilter_HTTP_FILTER:         func() proto.Message { return &hcm.HttpFilter{} },
	networking.EnvoyFilter_CLUSTER:             func() proto.Message { return &cluster.Cluster{} },
	networking.EnvoyFilter_ROUTE_CONFIGURATION: func() proto.Message { return &route.RouteConfiguration{} },
	networking.EnvoyFilter_VIRTUAL_HOST:        func() proto.Message { return &route.VirtualHost{} },
	networking.EnvoyFilter_HTTP_ROUTE:          func() proto.Message { return &route.Route{} },
}

// compilePatch decodes a patch value with protojson into the real Envoy
// type: unknown fields and unknown "@type"s are errors (a misspelt field
// would otherwise be dropped without a word). TypedStruct values decode as
// TypedStruct and stay so.
func compilePatch(f *discovery.EnvoyFilter, i int, cp *networking.EnvoyFilter_EnvoyConfigObjectPatch) (*envoyFilterPatch, error) {
	p := &envoyFilterPatch{filter: f, index: i, applyTo: cp.ApplyTo, op: discovery.EnvoyFilterOperation(cp), match: cp.Match}
	if p.match == nil {
		p.match = &networking.EnvoyFilter_EnvoyConfigObjectMatch{Context: networking.EnvoyFilter_ANY}
	}
	if p.op == networking.EnvoyFilter_Patch_REMOVE || cp.GetPatch().GetValue() == nil {
		return p, nil
	}
	js, err := protojson.Marshal(cp.Patch.Value)
	if err != nil {
		return nil, err
	}
	p.value = patchValueTypes[cp.ApplyTo]()
	if err := protojson.Unmarshal(js, p.value); err != nil {
		return nil, fmt.Errorf("not a valid %s: %v", p.value.ProtoReflect().Descriptor().FullName(), err)
	}
	renameDeprecated(p.value)
	return p, nil
}

// renameDeprecated gives an inserted filter its current name.
func renameDeprecated(m proto.Message) {
	switch v := m.(type) {
	case *hcm.HttpFilter:
		v.Name = httpFilterName(v.Name)
	case *listener.Filter:
		v.Name = networkFilterName(v.Name)
	}
}

// forPod are the patches of the EnvoyFilters that apply to the proxy of
// pod, in the order Istio applies them.
func (c *compiledEnvoyFilters) forPod(pod *discovery.Pod) []*envoyFilterPatch {
	var selected []*compiledEnvoyFilter
	for _, cf := range c.filters {
		if cf.filter.SelectsPod(c.root, pod) {
			selected = append(selected, cf)
		}
	}
	sort.SliceStable(selected, func(i, j int) bool {
		a, b := selected[i].filter, selected[j].filter
		if pa, pb := a.Spec.GetPriority(), b.Spec.GetPriority(); pa != pb {
			return pa < pb
		}
		if ra, rb := a.Namespace == c.root, b.Namespace == c.root; ra != rb {
			return ra
		}
		return a.Key() < b.Key()
	})
	var out []*envoyFilterPatch
	for _, cf := range selected {
		out = append(out, cf.patches...)
	}
	return out
}

// patchRun is the application of a proxy's patches to its view.
type patchRun struct {
	env     proxyEnv
	patches []*envoyFilterPatch
	results map[PatchKey]*PatchResult
	// clusters: the names in the view once cluster patches are done.
	clusters map[string]bool
}

// proxyEnv is what matching needs to know of the proxy.
type proxyEnv struct {
	gateway bool
	pod     *discovery.Pod
	snap    *discovery.Snapshot
}

// applyEnvoyFilters patches res in place (its slices; shared resources
// are replaced by patched clones) and sets res.Patches to what each patch
// did.
func applyEnvoyFilters(res *Resources, env proxyEnv, patches []*envoyFilterPatch) {
	r := &patchRun{env: env, patches: patches, results: map[PatchKey]*PatchResult{}}
	for _, p := range patches {
		r.results[p.key()] = &PatchResult{PatchKey: p.key()}
	}
	defer func() { res.Patches = r.report() }()
	removed := r.patchClusters(res)
	res.Listeners = r.patchListeners(res.Listeners)
	r.keepReferencedClusters(res, removed)
	res.Routes = r.patchRoutes(res.Routes)
}

// report is the result of each patch whose context is this kind of proxy:
// a GATEWAY patch did nothing to a sidecar, but was not meant to.
func (r *patchRun) report() []PatchResult {
	out := make([]PatchResult, 0, len(r.patches))
	for _, p := range r.patches {
		ctx := p.match.Context
		if ctx == networking.EnvoyFilter_ANY || (ctx == networking.EnvoyFilter_GATEWAY) == r.env.gateway {
			out = append(out, *r.results[p.key()])
		}
	}
	return out
}

// try applies one patch to a clone of a resource: apply reports whether
// the patch matched, and an error when its result cannot be built; the
// clone is kept only when check accepts it.
func try[T proto.Message](r *patchRun, p *envoyFilterPatch, resource T, what string, apply func(T) (bool, error), check func(T) error) T {
	next := proto.Clone(resource).(T)
	matched, err := apply(next)
	if !matched {
		return resource
	}
	res := r.results[p.key()]
	if err == nil {
		err = check(next)
	}
	if err != nil {
		res.Rejected = append(res.Rejected, fmt.Sprintf("%s: %v", what, err))
		return resource
	}
	res.Matched = true
	return next
}

// PatchProblems turns the patch results of proxies (by node id) into
// problems: a patch that matched nothing in any proxy it applies to, and
// each patch result Envoy would have rejected, with the proxies concerned.
func PatchProblems(results map[string][]PatchResult) []discovery.Problem {
	matched := map[PatchKey]bool{}
	selected := map[PatchKey][]string{}
	rejected := map[PatchKey]map[string][]string{} // reason -> proxies
	for proxy, rs := range results {
		for _, r := range rs {
			matched[r.PatchKey] = matched[r.PatchKey] || r.Matched
			selected[r.PatchKey] = append(selected[r.PatchKey], proxy)
			for _, reason := range r.Rejected {
				if rejected[r.PatchKey] == nil {
					rejected[r.PatchKey] = map[string][]string{}
				}
				rejected[r.PatchKey][reason] = append(rejected[r.PatchKey][reason], proxy)
			}
		}
	}
	var out []discovery.Problem
	for key, proxies := range selected {
		problem := func(reason string) discovery.Problem {
			return discovery.Problem{Source: key.Filter, Kind: "EnvoyFilter", Name: key.Filter, Field: discovery.EnvoyFilterPatchField(key.Index), Reason: reason}
		}
		if !matched[key] && len(rejected[key]) == 0 {
			out = append(out, problem(fmt.Sprintf("matched nothing in the config of %s", proxyList(proxies))))
		}
		for reason, ps := range rejected[key] {
			out = append(out, problem(fmt.Sprintf("not applied to %s (Envoy would reject the result): %s", proxyList(ps), reason)))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func proxyList(proxies []string) string {
	sort.Strings(proxies)
	if len(proxies) == 1 {
		return "proxy " + proxies[0]
	}
	if len(proxies) <= 3 {
		return fmt.Sprintf("proxies %v", proxies)
	}
	return fmt.Sprintf("%d proxies (%s, …)", len(proxies), proxies[0])
}
