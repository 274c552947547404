package discovery

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"sigs.k8s.io/yaml"
)

// meshConfigRead are the MeshConfig fields pilotlight acts on; any other
// field that is set is reported, not silently ignored.
var meshConfigRead = []string{"outboundTrafficPolicy"}

// ParseMeshConfig reads Istio's MeshConfig YAML (what istiod reads from its
// `istio` ConfigMap, key mesh) over Istio's defaults for the fields
// pilotlight reads: an outboundTrafficPolicy without a mode stays ALLOW_ANY,
// as Istio merges it. Unknown fields are an error; known fields that
// pilotlight does not implement come back as Problems naming the field.
func ParseMeshConfig(source string, data []byte) (*meshconfig.MeshConfig, []Problem, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", source, err)
	}
	if string(js) == "null" { // an empty file: all defaults
		js = []byte("{}")
	}
	mc := &meshconfig.MeshConfig{}
	if err := protojson.Unmarshal(js, mc); err != nil {
		return nil, nil, fmt.Errorf("%s: MeshConfig: %w", source, err)
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(js, &fields) // protojson accepted it: a JSON object
	var problems []Problem
	for name := range fields {
		if !slices.Contains(meshConfigRead, name) {
			problems = append(problems, Problem{Source: source, Kind: "MeshConfig", Field: name, Reason: "not implemented by pilotlight; ignored"})
		}
	}
	slices.SortFunc(problems, func(a, b Problem) int { return strings.Compare(a.Field, b.Field) })
	var policy map[string]json.RawMessage
	_ = json.Unmarshal(fields["outboundTrafficPolicy"], &policy)
	if _, set := policy["mode"]; !set {
		mc.OutboundTrafficPolicy = &meshconfig.MeshConfig_OutboundTrafficPolicy{Mode: meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY}
	}
	if mc.GetOutboundTrafficPolicy().GetMode() == meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY_DYNAMIC_DNS {
		problems = append(problems, Problem{Source: source, Kind: "MeshConfig", Field: "outboundTrafficPolicy.mode",
			Reason: "ALLOW_ANY_DYNAMIC_DNS is not implemented; served as ALLOW_ANY"})
		mc.OutboundTrafficPolicy.Mode = meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY
	}
	return mc, problems, nil
}
