package folder

import (
	"testing"
	"testing/fstest"
)

const positionYAML = `# a comment header
---
apiVersion: v1
kind: Service
metadata:
  name: a
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: catalogue
spec:
  hosts: [catalogue]
  http:
  - timeout: 5s
    route:
    - destination:
        host: catalogue
        subset: v1
      weight: 80
    - destination:
        host: catalogue
        subset: v2
      weight: 20
    headers:
      request:
        set:
          x-b3: "1"
`

func TestFieldPosition(t *testing.T) {
	fsys := fstest.MapFS{"rules.yaml": {Data: []byte(positionYAML)}, "one.json": {Data: []byte("{\n  \"spec\": {\n    \"host\": \"x\"\n  }\n}\n")}}
	tests := []struct {
		source, field string
		want          int
	}{
		{"rules.yaml#0", "", 3},
		{"rules.yaml#0", "metadata.name", 6},
		{"rules.yaml#1", "", 8},
		{"rules.yaml#1", "spec.http[0].timeout", 15},
		{"rules.yaml#1", "spec.http[0].route[1].destination.subset", 23},
		{"rules.yaml#1", "spec.http[0].route[1].weight", 24},
		{"rules.yaml#1", "spec.http[0].route[1]", 21},
		{"rules.yaml#1", "spec.http[0].headers.request.set[x-b3]", 28},
		// Not all there: the deepest part that is.
		{"rules.yaml#1", "spec.http[0].retries.attempts", 15},
		{"rules.yaml#1", "spec.tcp[0]", 12},
		{"one.json", "spec.host", 3},
	}
	for _, tt := range tests {
		got, err := fieldPosition(fsys, tt.source, tt.field)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.source, tt.field, err)
		}
		if got.Line != tt.want {
			t.Errorf("%s %s: line %d, want %d", tt.source, tt.field, got.Line, tt.want)
		}
	}
	if _, err := fieldPosition(fsys, "rules.yaml#7", ""); err == nil {
		t.Error("a missing document is not an error")
	}
}
