package discovery

import "sort"

// Problem reports an object (or a field of it) that could not be used, or,
// with a Level, something worth knowing about the input.
type Problem struct {
	// Source is where the object came from: "file.yaml#2" for the third
	// document of a file, or "namespace/name" for the API server.
	Source string `json:"source"`
	Kind   string `json:"kind,omitempty"`
	Name   string `json:"name,omitempty"`  // namespace/name when known
	Field  string `json:"field,omitempty"` // e.g. spec.http[0].route[1].destination.subset
	Reason string `json:"reason"`
	// Level is empty for a problem (an error: something was skipped or
	// not served as written), else LevelWarning or LevelInfo.
	Level string `json:"level,omitempty"`
}

// Levels of a Problem that is not an error.
const (
	LevelWarning = "warning"
	LevelInfo    = "info"
)

func (p Problem) String() string {
	s := p.Source
	if p.Kind != "" || p.Name != "" {
		s += ": " + p.Kind + " " + p.Name
	}
	if p.Field != "" {
		s += ": " + p.Field
	}
	return s + ": " + p.Reason
}

func sortProblems(problems []Problem) {
	sort.Slice(problems, func(i, j int) bool { return problems[i].String() < problems[j].String() })
}
