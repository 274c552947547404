package folder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"sigs.k8s.io/yaml"
)

// document is one YAML document of a file, and the line of the file where
// it starts (from 1), so that errors can name lines of the file.
type document struct {
	data []byte
	line int
}

// splitDocuments splits a YAML stream at its "---" lines. It works on lines,
// not with a YAML parser, so that one broken document cannot hide the
// documents after it.
func splitDocuments(data []byte) []document {
	var docs []document
	cur := document{line: 1}
	line := 0
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n') + 1
		if end == 0 {
			end = len(data)
		}
		text := data[:end]
		data = data[end:]
		line++
		if isSeparator(text) {
			docs = append(docs, cur)
			cur = document{line: line + 1}
			continue
		}
		cur.data = append(cur.data, text...)
	}
	docs = append(docs, cur)
	// A file that starts with "---" (maybe after a comment header) has no
	// document before it; don't count one, so indexes match what people see.
	if len(docs) > 1 && onlyComments(docs[0].data) {
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

// toJSON converts a document to JSON, the form the API types decode.
func toJSON(doc document, isJSON bool) ([]byte, error) {
	if isJSON {
		if len(bytes.TrimSpace(doc.data)) == 0 {
			return []byte("null"), nil
		}
		if !json.Valid(doc.data) {
			return nil, errors.New("not valid JSON")
		}
		return doc.data, nil
	}
	// Strict: a key written twice is an error, not a silent "last one wins".
	js, err := yaml.YAMLToJSONStrict(doc.data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %s", fileLines(err.Error(), doc.line))
	}
	return js, nil
}

// yamlLine is how the YAML parser names a line: within the document.
var yamlLine = regexp.MustCompile(`\bline (\d+)\b`)

// fileLines rewrites the document's line numbers in a YAML error into
// lines of the file, which is what an editor shows.
func fileLines(msg string, firstLine int) string {
	return yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		if err != nil {
			return m
		}
		return "line " + strconv.Itoa(n+firstLine-1)
	})
}
