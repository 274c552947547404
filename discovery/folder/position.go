package folder

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Position says where a field of an object is written in a config folder,
// for `pilotlight analyze` and `pilotlight explain` (file.yaml:14).
type Position struct {
	File string // relative to the folder, as in a Problem's Source
	Line int    // 1-based
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// FieldPosition finds the line of field (a path such as
// spec.http[0].route[1].destination.subset) in the document source
// ("file.yaml#2", as a Problem's Source says) of the folder dir. When the
// path is not all there it answers with the deepest part that is (at worst
// the document's first line). It reads the file each time: it is meant for
// commands a person runs, not for the serving path.
func FieldPosition(dir, source, field string) (Position, error) {
	return fieldPosition(os.DirFS(dir), source, field)
}

func fieldPosition(fsys fs.FS, source, field string) (Position, error) {
	file, docText, _ := strings.Cut(source, "#")
	pos := Position{File: file}
	doc, err := strconv.Atoi(docText)
	if err != nil {
		doc = 0
	}
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return pos, err
	}
	docs, starts := data, []int{1}
	if !strings.HasSuffix(file, ".json") {
		var texts [][]byte
		texts, starts = documentsWithLines(data)
		if doc >= len(texts) {
			return pos, fmt.Errorf("%s has no document %d", file, doc)
		}
		docs = texts[doc]
	} else if doc != 0 {
		return pos, fmt.Errorf("%s has one document", file)
	}
	pos.Line = starts[min(doc, len(starts)-1)]
	var root yaml.Node
	if err := yaml.Unmarshal(docs, &root); err != nil || len(root.Content) == 0 {
		return pos, nil
	}
	if line := lineOf(root.Content[0], splitFieldPath(field)); line > 0 {
		pos.Line += line - 1
	}
	return pos, nil
}

// documentsWithLines splits a YAML stream as splitDocuments does, and
// returns the line each document starts on.
func documentsWithLines(data []byte) ([][]byte, []int) {
	var docs [][]byte
	var starts []int
	var doc []byte
	start, line := 1, 0
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		line++
		if isSeparator(l) {
			docs, starts = append(docs, doc), append(starts, start)
			doc, start = nil, line+1
			continue
		}
		doc = append(doc, l...)
	}
	docs, starts = append(docs, doc), append(starts, start)
	if len(docs) > 1 && onlyComments(docs[0]) {
		docs, starts = docs[1:], starts[1:]
	}
	return docs, starts
}

// fieldStep is one step of a field path: a key, or an index into a list.
type fieldStep struct {
	key   string
	index int // -1 for a key
}

// splitFieldPath reads "spec.http[0].headers.request.set[x-b3]" into steps;
// a bracket holding a non-number is a map key.
func splitFieldPath(path string) []fieldStep {
	var steps []fieldStep
	for path != "" {
		var part string
		part, path, _ = strings.Cut(path, ".")
		for part != "" {
			open := strings.IndexByte(part, '[')
			if open < 0 {
				steps = append(steps, fieldStep{key: part, index: -1})
				break
			}
			if open > 0 {
				steps = append(steps, fieldStep{key: part[:open], index: -1})
			}
			end := strings.IndexByte(part[open:], ']')
			if end < 0 {
				break
			}
			inner := part[open+1 : open+end]
			if i, err := strconv.Atoi(inner); err == nil {
				steps = append(steps, fieldStep{index: i})
			} else {
				steps = append(steps, fieldStep{key: inner, index: -1})
			}
			part = part[open+end+1:]
		}
	}
	return steps
}

// lineOf follows steps from node and returns the line of the last step
// found: a key's line for a map entry, an item's for a list element.
func lineOf(node *yaml.Node, steps []fieldStep) int {
	line := node.Line
	for _, s := range steps {
		next, at := child(node, s)
		if next == nil {
			return line
		}
		node, line = next, at
	}
	return line
}

func child(node *yaml.Node, s fieldStep) (*yaml.Node, int) {
	switch {
	case s.index >= 0 && node.Kind == yaml.SequenceNode && s.index < len(node.Content):
		n := node.Content[s.index]
		return n, n.Line
	case s.index < 0 && node.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == s.key {
				return node.Content[i+1], node.Content[i].Line
			}
		}
	}
	return nil, 0
}
