// Package folder serves the mesh from a folder of Kubernetes and Istio YAML,
// the files one would `kubectl apply -R -f`: Services, Pods, EndpointSlices,
// Secrets (the TLS ones, for gateways), VirtualServices, DestinationRules,
// Gateways, AuthorizationPolicies, RequestAuthentications, EnvoyFilters and
// pilotlight's RateLimitPolicies.
//
// A folder has no API server in front of it: nothing rejected a misspelt
// field or a route to a missing subset when the file was written. So every
// document is decoded strictly and validated here, and a bad one is skipped
// and reported as a discovery.Problem while the rest of the mesh is served;
// an object that was valid before keeps its last valid version served.
//
// Files are read with care (files.go): regular files only, at most
// Options.MaxFileSize bytes, links only within the folder. A file is parsed
// again only when its size, modification time or inode changed, so that
// the cost of an edit follows the edit, not the size of the folder.
package folder

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/pilotlight/pilotlight/discovery"
)

// Options say how a folder is read.
type Options struct {
	// MaxFileSize is the size of the largest file read; a larger one is
	// reported and skipped. Zero means DefaultMaxFileSize.
	MaxFileSize int64
	// RootNamespace is Istio's meshConfig.rootNamespace; "" means
	// discovery.DefaultRootNamespace.
	RootNamespace string
}

func (o Options) maxFileSize() int64 {
	if o.MaxFileSize > 0 {
		return o.MaxFileSize
	}
	return DefaultMaxFileSize
}

// Load reads every *.yaml, *.yml and *.json file under dir (recursively,
// skipping hidden files and directories) into a sealed snapshot with
// Version 1 and Istio's default root namespace. It fails only when dir
// itself cannot be read.
func Load(dir string) (*discovery.Snapshot, error) {
	return newReader(dir, Options{}).read(1, nil)
}

// reader reads one folder again and again. It keeps what it parsed of each
// file, and a Builder that remembers the last good version of each object.
type reader struct {
	dir     string
	opts    Options
	files   map[string]*parsedFile // by slash-separated name
	builder *discovery.Builder
	parsed  int // files parsed by the last read: the others were unchanged
	// listing, when a Watcher tells the reader what changed: then only
	// the files it names are listed again (listing.go); nil: every read
	// lists the whole folder.
	listing *listing
	listed  int // files the last read looked at
}

func newReader(dir string, opts Options) *reader {
	return &reader{dir: dir, opts: opts, files: map[string]*parsedFile{}, builder: discovery.NewBuilder()}
}

// list lists the folder, or what changed in it.
func (r *reader) list() ([]listedFile, []discovery.Problem, error) {
	if r.listing == nil {
		files, problems, err := listFiles(r.dir, r.opts.maxFileSize())
		r.listed = len(files)
		return files, problems, err
	}
	files, problems, n, err := r.listing.list(r.dir, r.opts.maxFileSize())
	r.listed = n
	return files, problems, err
}

// read builds a snapshot of the folder as it is now. A file is parsed again
// only when it changed since the last read, and only when ready(name) says
// it is done being written (nil: every file is); until then its previous
// parse (or nothing, for a new file) stands.
func (r *reader) read(version uint64, ready func(name string) bool) (*discovery.Snapshot, error) {
	if err := checkFolder(r.dir); err != nil {
		return nil, err
	}
	listed, walkProblems, err := r.list()
	if err != nil {
		return nil, fmt.Errorf("config folder %s: %w", r.dir, unwrapPathError(err))
	}
	next := make(map[string]*parsedFile, len(listed))
	r.parsed = 0
	for _, f := range listed {
		prev := r.files[f.name]
		switch {
		case prev != nil && f.problem == nil && prev.stamp == f.stamp && prev.problem == nil:
			next[f.name] = prev // unchanged
		case ready != nil && !ready(f.name):
			if prev != nil {
				next[f.name] = prev // still being written: keep what was read before
			}
		default:
			next[f.name] = r.parse(f, prev)
			r.parsed++
		}
	}
	r.files = next
	return r.snapshot(version, walkProblems), nil
}

// parse reads and parses one file. A file that cannot be read at all keeps
// the objects it held before as unreadable, so that their last good
// versions are served (a file made unreadable is not a file deleted).
func (r *reader) parse(f listedFile, prev *parsedFile) *parsedFile {
	problem := f.problem
	var data []byte
	var st stamp
	if problem == nil {
		var err error
		if data, st, err = readFile(f, r.opts.maxFileSize()); err != nil {
			problem = &discovery.Problem{Source: f.name, Reason: err.Error()}
		}
	}
	if problem != nil {
		return &parsedFile{name: f.name, stamp: f.stamp, problem: problem, docs: prev.unreadable(problem.Reason)}
	}
	return parseFile(f.name, data, st, prev)
}

// snapshot assembles the parsed files into a sealed snapshot.
func (r *reader) snapshot(version uint64, problems []discovery.Problem) *discovery.Snapshot {
	in := discovery.Input{RootNamespace: r.opts.RootNamespace}
	origin := map[string]string{} // "Kind namespace/name" -> source of the object served
	ignored := map[string]int{}   // "apiVersion Kind" -> documents
	names := make([]string, 0, len(r.files))
	for name := range r.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := r.files[name]
		if f.problem != nil {
			problems = append(problems, *f.problem)
		}
		for _, d := range f.docs {
			switch {
			case d.ignored != "":
				ignored[d.ignored]++
			case d.object != nil:
				// The same object in two files is a mistake that kubectl
				// would resolve by letting the last apply win; a folder has
				// no order of applies, so the first one in path order is
				// kept and the other reported.
				if first, dup := origin[d.key]; dup {
					kind, name, _ := strings.Cut(d.key, " ")
					problems = append(problems, discovery.Problem{Source: d.source, Kind: kind, Name: name, Reason: "duplicate of " + first + ", which is used instead"})
					continue
				}
				origin[d.key] = d.source
				addObject(&in, d.object)
			case d.key != "" && d.unreadable:
				if first, dup := origin[d.key]; dup {
					problems = append(problems, discovery.Problem{Source: d.source, Reason: "duplicate of " + first + ", which is used instead"})
					problems = append(problems, d.problems...)
					continue
				}
				origin[d.key] = d.source
				in.Unreadable = append(in.Unreadable, d.problems...)
			default:
				problems = append(problems, d.problems...)
			}
		}
	}
	s := r.builder.Build(in)
	s.Version = version
	// Origins: where each object served came from, for analyze and explain
	// (file#document; folder/position.go turns that into file:line).
	s.Origins = origin
	for i := range s.Problems {
		if p := &s.Problems[i]; p.Source == "" {
			p.Source = origin[discovery.ObjectKey(p.Kind, p.Name)]
		}
	}
	s.Problems = append(s.Problems, problems...)
	s.Notices = notices(len(names), ignored)
	return s.Seal()
}

// notices says what a folder held that the mesh does not read, once per
// kind, and when it held no config file at all.
func notices(files int, ignored map[string]int) []discovery.Problem {
	var out []discovery.Problem
	if files == 0 {
		out = append(out, discovery.Problem{Level: discovery.LevelWarning, Source: ".",
			Reason: "the config folder holds no .yaml, .yml or .json file: the mesh is empty"})
	}
	kinds := make([]string, 0, len(ignored))
	for k := range ignored {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		out = append(out, discovery.Problem{Level: discovery.LevelInfo, Source: ".", Kind: k,
			Reason: fmt.Sprintf("%d document(s) of kind %s ignored: not part of the mesh config", ignored[k], k)})
	}
	return out
}

// addObject puts a decoded object where the builder reads it.
func addObject(in *discovery.Input, obj any) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		// Accepted so that a folder may declare its namespaces; the snapshot
		// has no use for them yet.
	case *corev1.Service:
		in.Services = append(in.Services, o)
	case *corev1.Pod:
		in.Pods = append(in.Pods, o)
	case *discoveryv1.EndpointSlice:
		in.EndpointSlices = append(in.EndpointSlices, o)
	case *corev1.Secret:
		in.Secrets = append(in.Secrets, o)
	case *discovery.VirtualService:
		in.VirtualServices = append(in.VirtualServices, o)
	case *discovery.DestinationRule:
		in.DestinationRules = append(in.DestinationRules, o)
	case *discovery.Gateway:
		in.Gateways = append(in.Gateways, o)
	case *discovery.PeerAuthentication:
		in.PeerAuthentications = append(in.PeerAuthentications, o)
	case *discovery.Sidecar:
		in.Sidecars = append(in.Sidecars, o)
	case *discovery.EnvoyFilter:
		in.EnvoyFilters = append(in.EnvoyFilters, o)
	case *discovery.RateLimitPolicy:
		in.RateLimitPolicies = append(in.RateLimitPolicies, o)
	case *discovery.AuthorizationPolicy:
		in.AuthorizationPolicies = append(in.AuthorizationPolicies, o)
	case *discovery.RequestAuthentication:
		in.RequestAuthentications = append(in.RequestAuthentications, o)
	case *discovery.Telemetry:
		in.Telemetries = append(in.Telemetries, o)
	default:
		panic(fmt.Sprintf("folder: decoder returned %T", obj))
	}
}

// parsedFile is what one version of a file holds.
type parsedFile struct {
	name    string
	stamp   stamp
	problem *discovery.Problem // the file could not be read
	docs    []parsedDoc
}

// parsedDoc is one document of a file.
type parsedDoc struct {
	source string // "file.yaml#2"
	// key is "Kind namespace/name" when known: read from the document, or,
	// for a document that is not even YAML, taken from the document at the
	// same place in the file's previous version.
	key      string
	object   any // decoded and ready to validate; nil when it failed
	problems []discovery.Problem
	// unreadable: the document names an object (key) that could not be
	// decoded; its last good version is served.
	unreadable bool
	// ignored is "apiVersion Kind" for a kind that is no mesh config.
	ignored string
}

// unreadable turns the objects of a file's previous version into unreadable
// ones, for a file that can no longer be read.
func (f *parsedFile) unreadable(reason string) []parsedDoc {
	if f == nil {
		return nil
	}
	var out []parsedDoc
	for _, d := range f.docs {
		if d.key == "" || (d.object == nil && !d.unreadable) {
			continue
		}
		kind, name, _ := strings.Cut(d.key, " ")
		out = append(out, parsedDoc{source: d.source, key: d.key, unreadable: true,
			problems: []discovery.Problem{{Source: d.source, Kind: kind, Name: name, Reason: "the file cannot be read: " + reason}}})
	}
	return out
}

// parseFile parses the documents of a file. prev is the file's previous
// version, if any: a document that is no longer YAML at all is taken to be
// the object that the document at its place was.
func parseFile(name string, data []byte, st stamp, prev *parsedFile) *parsedFile {
	f := &parsedFile{name: name, stamp: st}
	isJSON := path.Ext(name) == ".json"
	docs := []document{{data: data, line: 1}}
	if !isJSON {
		docs = splitDocuments(data)
	}
	for i, doc := range docs {
		d := parseDocument(fmt.Sprintf("%s#%d", name, i), doc, isJSON)
		if d.key == "" && len(d.problems) > 0 && prev != nil && i < len(prev.docs) && prev.docs[i].key != "" {
			d.key, d.unreadable = prev.docs[i].key, true
			kind, objName, _ := strings.Cut(d.key, " ")
			for j := range d.problems {
				d.problems[j].Kind, d.problems[j].Name = kind, objName
			}
		}
		f.docs = append(f.docs, d)
	}
	return f
}

// parseDocument decodes one document, or says why not.
func parseDocument(source string, doc document, isJSON bool) parsedDoc {
	d := parsedDoc{source: source}
	fail := func(p discovery.Problem) parsedDoc {
		p.Source = source
		d.problems = append(d.problems, p)
		return d
	}
	js, err := toJSON(doc, isJSON)
	if err != nil {
		return fail(discovery.Problem{Reason: err.Error()})
	}
	obj, h, errs, ignored := decodeObject(js)
	switch {
	case ignored:
		d.ignored = h.APIVersion + " " + h.Kind
		return d
	case h == nil:
		if len(errs) == 0 {
			return d // an empty document, or only comments
		}
		return fail(discovery.Problem{Reason: errs[0].reason})
	}
	if h.Metadata.Name != "" && len(errs) > 0 && decoders[h.APIVersion+"/"+h.Kind] != nil {
		d.key, d.unreadable = discovery.ObjectKey(h.Kind, h.name()), true
	}
	name := h.name()
	if h.Metadata.Name == "" {
		name = ""
	}
	for _, e := range errs {
		d.problems = append(d.problems, discovery.Problem{Source: source, Kind: h.Kind, Name: name, Field: e.field, Reason: e.reason})
	}
	if len(errs) == 0 {
		d.key, d.object = discovery.ObjectKey(h.Kind, h.name()), obj
		if ra, ok := obj.(*discovery.RequestAuthentication); ok {
			ra.Origin = source // where its JWKS fetch problems point
		}
	}
	return d
}
