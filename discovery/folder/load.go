// Package folder serves the mesh from a folder of Kubernetes and Istio YAML,
// the files one would `kubectl apply -R -f`: Services, Pods, EndpointSlices,
// Secrets (the TLS ones, for gateways), VirtualServices, DestinationRules,
// Gateways, AuthorizationPolicies, RequestAuthentications, EnvoyFilters and
// pilotlight's RateLimitPolicies.
//
// A folder has no API server in front of it: nothing rejected a misspelt
// field or a route to a missing subset when the file was written. So every
// document is decoded strictly and validated here, and a bad one is skipped
// and reported as a discovery.Problem while the rest of the mesh is served.
package folder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/discovery"
)

// Load reads every *.yaml, *.yml and *.json file under dir (recursively,
// skipping hidden files and directories) into a sealed snapshot with
// Version 1 and Istio's default root namespace. It fails only when dir
// itself cannot be read.
func Load(dir string) (*discovery.Snapshot, error) {
	return load(os.DirFS(dir), 1, "")
}

// load reads an fs.FS: its paths are relative and slash-separated, as
// Problem sources should be, and os.DirFS follows dir even when it is a
// symlink (a mounted ConfigMap may be).
func load(fsys fs.FS, version uint64, rootNamespace string) (*discovery.Snapshot, error) {
	l := &loader{origin: map[string]string{}, rootNamespace: rootNamespace}
	files, err := l.configFiles(fsys)
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		l.loadFile(fsys, name)
	}
	return l.snapshot(version), nil
}

// loader accumulates the objects of one load.
type loader struct {
	services []*corev1.Service
	pods     []*corev1.Pod
	slices   []*discoveryv1.EndpointSlice
	secrets  []*corev1.Secret

	virtualServices     []*discovery.VirtualService
	destinationRules    []*discovery.DestinationRule
	gateways            []*discovery.Gateway
	envoyFilters        []*discovery.EnvoyFilter
	rateLimits          []*discovery.RateLimitPolicy
	peerAuthentications []*discovery.PeerAuthentication
	sidecars            []*discovery.Sidecar
	telemetries         []*discovery.Telemetry

	authorizationPolicies  []*discovery.AuthorizationPolicy
	requestAuthentications []*discovery.RequestAuthentication

	// origin maps "Kind namespace/name" to the document the object came from,
	// to spot duplicates and to say where a later validation problem is.
	origin   map[string]string
	problems []discovery.Problem

	rootNamespace string // "" for discovery.DefaultRootNamespace
}

// configFiles lists the config files in path order. Any error but one on the
// root becomes a Problem: an unreadable subfolder should not stop the mesh.
func (l *loader) configFiles(fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil && name == ".":
			return err
		case err != nil:
			l.problems = append(l.problems, discovery.Problem{Source: name, Reason: err.Error()})
			return nil
		case name != "." && isHidden(name):
			// Editors' swap files, and the ..data folders of a mounted ConfigMap.
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case !d.IsDir() && isConfigFile(name):
			files = append(files, name)
		}
		return nil
	})
	// WalkDir goes folder by folder: "a/x.yaml" comes before "a.yaml". Sort by
	// the whole path so that "first" means the same thing to people and code.
	sort.Strings(files)
	return files, err
}

func isHidden(name string) bool { return strings.HasPrefix(path.Base(name), ".") }

func isConfigFile(name string) bool {
	switch path.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func (l *loader) loadFile(fsys fs.FS, name string) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		l.problems = append(l.problems, discovery.Problem{Source: name, Reason: err.Error()})
		return
	}
	isJSON := path.Ext(name) == ".json"
	docs := [][]byte{data}
	if !isJSON {
		docs = splitDocuments(data)
	}
	for i, doc := range docs {
		source := fmt.Sprintf("%s#%d", name, i)
		js, err := toJSON(doc, isJSON)
		if err != nil {
			l.problems = append(l.problems, discovery.Problem{Source: source, Reason: err.Error()})
			continue
		}
		l.loadObject(source, js)
	}
}

// toJSON converts a document to JSON, the form the API types decode.
func toJSON(doc []byte, isJSON bool) ([]byte, error) {
	if isJSON {
		if len(bytes.TrimSpace(doc)) == 0 {
			return []byte("null"), nil
		}
		if !json.Valid(doc) {
			return nil, errors.New("not valid JSON")
		}
		return doc, nil
	}
	// Strict: a key written twice is an error, not a silent "last one wins".
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	return js, nil
}

// splitDocuments splits a YAML stream at its "---" lines. It works on lines,
// not with a YAML parser, so that one broken document cannot hide the
// documents after it.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var doc []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if isSeparator(line) {
			docs = append(docs, doc)
			doc = nil
			continue
		}
		doc = append(doc, line...)
	}
	docs = append(docs, doc)
	// A file that starts with "---" (maybe after a comment header) has no
	// document before it; don't count one, so indexes match what people see.
	if len(docs) > 1 && onlyComments(docs[0]) {
		docs = docs[1:]
	}
	return docs
}

// isSeparator reports whether a line starts a new YAML document: "---",
// optionally followed by a comment.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

func onlyComments(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// header is the part of every object needed to pick its decoder and to
// name it in a Problem, read leniently before the strict decoding.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// namespace is where the object lives: "default" when unset, as kubectl
// would apply it, and none for cluster-scoped kinds.
func (h *header) namespace() string {
	switch {
	case clusterScoped[h.Kind]:
		return ""
	case h.Metadata.Namespace == "":
		return "default"
	}
	return h.Metadata.Namespace
}

// name is how a Problem names the object: "namespace/name".
func (h *header) name() string {
	if ns := h.namespace(); ns != "" {
		return ns + "/" + h.Metadata.Name
	}
	return h.Metadata.Name
}

// loadObject decodes one object and keeps it, or reports why not.
func (l *loader) loadObject(source string, js []byte) {
	if bytes.Equal(js, []byte("null")) {
		return // an empty document, or only comments
	}
	if !bytes.HasPrefix(bytes.TrimSpace(js), []byte("{")) {
		l.problems = append(l.problems, discovery.Problem{Source: source, Reason: "document is not an object"})
		return
	}
	var h header
	_ = json.Unmarshal(js, &h) // a field of the wrong type stays empty here; the decoder reports it
	problem := discovery.Problem{Source: source, Kind: h.Kind, Name: h.name()}
	if field, reason := l.check(&h); reason != "" {
		problem.Field, problem.Reason = field, reason
		l.problems = append(l.problems, problem)
		return
	}
	obj, errs := decoders[h.APIVersion+"/"+h.Kind](js, h.namespace())
	for _, e := range errs {
		problem.Field, problem.Reason = e.field, e.reason
		l.problems = append(l.problems, problem)
	}
	if len(errs) == 0 {
		l.origin[h.Kind+" "+h.name()] = source
		l.add(obj)
	}
}

// check finds what makes a document unusable before decoding it: an
// unsupported kind, a missing name, or a second object of the same name.
func (l *loader) check(h *header) (field, reason string) {
	switch {
	case h.APIVersion == "" || h.Kind == "":
		return "", "apiVersion and kind are required"
	case decoders[h.APIVersion+"/"+h.Kind] == nil:
		return "", fmt.Sprintf("unsupported kind %s %s", h.APIVersion, h.Kind)
	case h.Metadata.Name == "":
		return "metadata.name", "name is required"
	}
	// The same object in two files is a mistake that kubectl would resolve
	// by letting the last apply win; a folder has no order of applies, so
	// the first one in path order is kept and the other reported.
	if first, ok := l.origin[h.Kind+" "+h.name()]; ok {
		return "", "duplicate of " + first + ", which is used instead"
	}
	return "", ""
}

// add keeps a decoded object for building the snapshot.
func (l *loader) add(obj any) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		// Accepted so that a folder may declare its namespaces; the snapshot
		// has no use for them yet.
	case *corev1.Service:
		l.services = append(l.services, o)
	case *corev1.Pod:
		l.pods = append(l.pods, o)
	case *discoveryv1.EndpointSlice:
		l.slices = append(l.slices, o)
	case *corev1.Secret:
		l.secrets = append(l.secrets, o)
	case *discovery.VirtualService:
		l.virtualServices = append(l.virtualServices, o)
	case *discovery.DestinationRule:
		l.destinationRules = append(l.destinationRules, o)
	case *discovery.Gateway:
		l.gateways = append(l.gateways, o)
	case *discovery.EnvoyFilter:
		l.envoyFilters = append(l.envoyFilters, o)
	case *discovery.RateLimitPolicy:
		l.rateLimits = append(l.rateLimits, o)
	case *discovery.PeerAuthentication:
		l.peerAuthentications = append(l.peerAuthentications, o)
	case *discovery.Sidecar:
		l.sidecars = append(l.sidecars, o)
	case *discovery.AuthorizationPolicy:
		l.authorizationPolicies = append(l.authorizationPolicies, o)
	case *discovery.RequestAuthentication:
		o.Origin = l.origin["RequestAuthentication "+o.Key()]
		l.requestAuthentications = append(l.requestAuthentications, o)
	case *discovery.Telemetry:
		l.telemetries = append(l.telemetries, o)
	default:
		panic(fmt.Sprintf("folder: decoder returned %T", obj))
	}
}

// snapshot builds the mesh model from what was loaded, drops invalid Istio
// objects and seals the result.
func (l *loader) snapshot(version uint64) *discovery.Snapshot {
	s := discovery.Build(l.services, l.pods, l.slices)
	s.Version = version
	s.VirtualServices = l.virtualServices
	s.DestinationRules = l.destinationRules
	s.Gateways = l.gateways
	s.EnvoyFilters = l.envoyFilters
	s.RateLimitPolicies = l.rateLimits
	s.PeerAuthentications = l.peerAuthentications
	s.Sidecars = l.sidecars
	s.AuthorizationPolicies = l.authorizationPolicies
	s.RequestAuthentications = l.requestAuthentications
	s.RootNamespace = l.rootNamespace
	s.Telemetries = l.telemetries
	s.Origins = l.origin
	l.addSecrets(s)
	for _, p := range discovery.Validate(s) {
		p.Source = l.origin[p.Kind+" "+p.Name]
		s.Problems = append(s.Problems, p)
	}
	s.Problems = append(s.Problems, l.problems...)
	return s.Seal()
}

// addSecrets keeps the TLS material of the loaded Secrets. It runs before
// validation, which checks that gateways find the secrets they name.
func (l *loader) addSecrets(s *discovery.Snapshot) {
	for _, sec := range l.secrets {
		tlsSecret, problem := discovery.SecretOf(sec)
		if problem != nil {
			problem.Source = l.origin["Secret "+sec.Namespace+"/"+sec.Name]
			l.problems = append(l.problems, *problem)
			continue
		}
		if tlsSecret != nil {
			s.Secrets = append(s.Secrets, tlsSecret)
		}
	}
}
