package folder

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	networking "istio.io/api/networking/v1"
)

// Istio's docs write durations as Go durations; protojson wants seconds.
func TestIstioStyleDurationsDecode(t *testing.T) {
	cases := map[string]int64{"5m": 300e9, "250ms": 250e6, "1h": 3600e9, "10s": 10e9, "0.5s": 500e6, "1m30s": 90e9}
	for written, wantNanos := range cases {
		spec := []byte(`{"host":"x","trafficPolicy":{"outlierDetection":{"interval":"` + written + `"},` +
			`"portLevelSettings":[{"port":{"number":80},"connectionPool":{"tcp":{"connectTimeout":"` + written + `"}}}]}}`)
		dr := &networking.DestinationRule{}
		if err := protojson.Unmarshal(normalizeDurations(spec, dr.ProtoReflect().Descriptor()), dr); err != nil {
			t.Fatalf("%s: %v", written, err)
		}
		if got := dr.GetTrafficPolicy().GetOutlierDetection().GetInterval().AsDuration().Nanoseconds(); got != wantNanos {
			t.Errorf("%s: interval %dns, want %dns", written, got, wantNanos)
		}
		pool := dr.GetTrafficPolicy().GetPortLevelSettings()[0].GetConnectionPool()
		if got := pool.GetTcp().GetConnectTimeout().AsDuration().Nanoseconds(); got != wantNanos {
			t.Errorf("%s: portLevelSettings connectTimeout %dns, want %dns", written, got, wantNanos)
		}
	}
}

// A duration that is not one stays for protojson to reject, with its field.
func TestBadDurationIsStillReported(t *testing.T) {
	doc := []byte(`{"hosts":["a"],"http":[{"timeout":"soon","route":[{"destination":{"host":"a"}}]}]}`)
	errs := decodeProto(doc, &networking.VirtualService{})
	if len(errs) != 1 || errs[0].field != "spec.http[0].timeout" {
		t.Fatalf("got %+v, want one error at spec.http[0].timeout", errs)
	}
}
