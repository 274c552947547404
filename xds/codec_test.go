package xds

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"unsafe"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// The codec decodes requests exactly as protobuf does, with the names it
// knows as the table's own strings.
func TestRequestCodecDecodesAsProtobufDoes(t *testing.T) {
	table := &nameTable{}
	table.set([]string{"outbound|80||a.shop.svc.cluster.local", "outbound|80|v1|a.shop.svc.cluster.local"})
	known := table.get()["outbound|80||a.shop.svc.cluster.local"]
	meta, _ := structpb.NewStruct(map[string]any{"INTERCEPTION_MODE": "REDIRECT"})
	for _, tc := range []struct {
		name string
		req  *discoverypb.DiscoveryRequest
	}{
		{"empty", &discoverypb.DiscoveryRequest{}},
		{"first request", &discoverypb.DiscoveryRequest{Node: &core.Node{Id: "sidecar~10.0.0.1~a-0.shop~shop.svc.cluster.local", Metadata: meta}, TypeUrl: resourcev3.ClusterType}},
		{"ack with names", &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: "v-1", ResponseNonce: "7",
			ResourceNames: []string{"outbound|80||a.shop.svc.cluster.local", "outbound|80|v1|a.shop.svc.cluster.local", "not-in-the-table", ""}}},
		{"nack", &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: "3", ResourceNames: []string{"http_proxy"},
			ErrorDetail: &rpcstatus.Status{Code: 3, Message: "rejected"}}},
		{"resource locators (protobuf's)", &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType,
			ResourceLocators: []*discoverypb.ResourceLocator{{Name: "x"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			// Whole, and in pieces as gRPC hands over a request of many
			// frames (the pieces overwritten after, as gRPC reuses them).
			for _, pieces := range []int{1, 3} {
				got := &discoverypb.DiscoveryRequest{}
				data := inPieces(b, pieces)
				if err := newRequestCodec(table).Unmarshal(data, got); err != nil {
					t.Fatal(err)
				}
				for _, piece := range data {
					clear(piece.ReadOnlyData())
				}
				if !proto.Equal(got, tc.req) {
					t.Fatalf("%d pieces: decoded %v, want %v", pieces, got, tc.req)
				}
				for _, n := range got.GetResourceNames() {
					if n == known && unsafe.StringData(n) != unsafe.StringData(known) {
						t.Errorf("name %q is a new string, want the table's", n)
					}
				}
			}
		})
	}
	// A long list, twice: the second request gets the first one's names.
	long := &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType}
	for i := 0; i < 100; i++ {
		long.ResourceNames = append(long.ResourceNames, fmt.Sprintf("outbound|80||svc-%03d.load.svc.cluster.local", i))
	}
	b, _ := proto.Marshal(long)
	codec := newRequestCodec(table)
	var got [2]*discoverypb.DiscoveryRequest
	for i := range got {
		got[i] = &discoverypb.DiscoveryRequest{}
		if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got[i]); err != nil || !proto.Equal(got[i], long) {
			t.Fatalf("the long list decoded to %v (%v)", got[i], err)
		}
	}
	if &got[0].ResourceNames[0] != &got[1].ResourceNames[0] {
		t.Error("the same list of names, sent again, was decoded again")
	}
	// In pieces, then another request of the same size through the same
	// (pooled) buffer: the first one's strings are its own.
	first, other := &discoverypb.DiscoveryRequest{}, proto.Clone(long).(*discoverypb.DiscoveryRequest)
	other.VersionInfo = "v-other"
	other.ResourceNames = slices.Clone(other.ResourceNames)
	other.ResourceNames[0] = "outbound|80||svc-999.load.svc.cluster.local"
	ob, _ := proto.Marshal(other)
	fresh := newRequestCodec(table)
	if err := fresh.Unmarshal(inPieces(b, 3), first); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Unmarshal(inPieces(ob, 3), &discoverypb.DiscoveryRequest{}); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first, long) {
		t.Error("a request decoded from pieces changed when the next one was decoded")
	}
	// Not UTF-8: protobuf's error, not a name.
	bad := protoAppendString(nil, 3, "\xff\xfe")
	if err := newRequestCodec(table).Unmarshal(mem.BufferSlice{mem.SliceBuffer(bad)}, &discoverypb.DiscoveryRequest{}); err == nil {
		t.Error("a resource name that is not UTF-8 was accepted")
	}
}

// Delta requests too: as protobuf decodes them, a list of names sent
// before shared, and what the codec does not decode left to protobuf.
func TestRequestCodecDecodesDeltaRequestsAsProtobufDoes(t *testing.T) {
	table := &nameTable{}
	table.set([]string{"outbound|80||a.shop.svc.cluster.local"})
	known := table.get()["outbound|80||a.shop.svc.cluster.local"]
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("outbound|80||svc-%03d.load.svc.cluster.local", i))
	}
	codec := newRequestCodec(table)
	for _, tc := range []struct {
		name string
		req  *discoverypb.DeltaDiscoveryRequest
	}{
		{"empty", &discoverypb.DeltaDiscoveryRequest{}},
		{"first request", &discoverypb.DeltaDiscoveryRequest{Node: &core.Node{Id: "sidecar~10.0.0.1~a-0.shop~shop.svc.cluster.local"}, TypeUrl: resourcev3.ClusterType}},
		{"subscribe and unsubscribe", &discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: "3",
			ResourceNamesSubscribe:   []string{"outbound|80||a.shop.svc.cluster.local", "*", ""},
			ResourceNamesUnsubscribe: []string{"outbound|80||a.shop.svc.cluster.local", "gone"}}},
		{"many names", &discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: many}},
		{"nack", &discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: "4", ErrorDetail: &rpcstatus.Status{Code: 3, Message: "rejected"}}},
		{"initial versions (protobuf's)", &discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType,
			ResourceNamesSubscribe: many, InitialResourceVersions: map[string]string{"outbound|80||a.shop.svc.cluster.local": "v1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got [2]*discoverypb.DeltaDiscoveryRequest
			for i := range got {
				got[i] = &discoverypb.DeltaDiscoveryRequest{}
				if err := codec.Unmarshal(inPieces(b, 3), got[i]); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(got[i], tc.req) {
					t.Fatalf("decoded %v, want %v", got[i], tc.req)
				}
			}
			for _, n := range slices.Concat(got[0].ResourceNamesSubscribe, got[0].ResourceNamesUnsubscribe) {
				if n == known && unsafe.StringData(n) != unsafe.StringData(known) {
					t.Errorf("name %q is a new string, want the table's", n)
				}
			}
			if tc.name == "many names" && &got[0].ResourceNamesSubscribe[0] != &got[1].ResourceNamesSubscribe[0] {
				t.Error("the same list of names, sent again, was decoded again")
			}
		})
	}
}

// A list sent before is found only when it is the request's whole run of
// names: not when the request starts with it and goes on with more, nor
// when the request is a prefix of it.
func TestNameListsFindOnlyTheWholeRun(t *testing.T) {
	names := func(n int, extra ...string) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("outbound|80||svc-%03d.load.svc.cluster.local", i))
		}
		return append(out, extra...)
	}
	lists := [][]string{
		names(100),             // the first list
		names(100, "one-more"), // starts with the first one's run
		names(99),              // the first one's run starts with it
	}
	for i := range maxListsPerHead { // more lists with the same first names than are kept
		lists = append(lists, names(100, fmt.Sprintf("and-%d", i)))
	}
	codec := newRequestCodec(&nameTable{})
	decode := func(list []string) (*discoverypb.DiscoveryRequest, error) {
		want := &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: list, ResponseNonce: "4"}
		b, _ := proto.Marshal(want)
		got := &discoverypb.DiscoveryRequest{}
		if err := codec.Unmarshal(inPieces(b, 3), got); err != nil {
			return nil, err
		}
		if !proto.Equal(got, want) {
			return nil, fmt.Errorf("decoded %d names ending %q, want %d ending %q", len(got.ResourceNames), got.ResourceNames[len(got.ResourceNames)-1], len(list), list[len(list)-1])
		}
		return got, nil
	}
	for range 2 { // the second time, each list is found (or decoded again, if evicted)
		for _, list := range lists {
			if _, err := decode(list); err != nil {
				t.Fatal(err)
			}
		}
	}
	newest := lists[len(lists)-1]
	first, _ := decode(newest)
	if again, _ := decode(newest); &again.ResourceNames[0] != &first.ResourceNames[0] {
		t.Error("the newest list, sent again, was decoded again")
	}
	// Streams decode at once (go test -race).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, list := range slices.Concat(lists, lists) {
				if _, err := decode(list); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// inPieces is a copy of b in n pieces (the last ones empty when b is short).
func inPieces(b []byte, n int) mem.BufferSlice {
	b = slices.Clone(b)
	var out mem.BufferSlice
	size := (len(b) + n - 1) / n
	for i := range n {
		lo, hi := min(i*size, len(b)), min((i+1)*size, len(b))
		out = append(out, mem.SliceBuffer(b[lo:hi]))
	}
	return out
}

func protoAppendString(b []byte, num int, s string) []byte {
	b = append(b, byte(num<<3|2), byte(len(s)))
	return append(b, s...)
}

// BenchmarkDecodeAckOfThreeThousandNames: a state-of-the-world EDS ACK of
// a sidecar at 1000×10 (3,000 names, about 150 KB), as gRPC hands it
// over: in 16 KB frames, its list of names seen before; alone, or among
// as many lists with the same first names as are kept, each one name
// longer than the one before (the ACK's list the first one).
func BenchmarkDecodeAckOfThreeThousandNames(b *testing.B) {
	for _, others := range []int{0, maxListsPerHead - 1} {
		b.Run(fmt.Sprintf("lists=%d", others+1), func(b *testing.B) {
			ack := &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: "v-1", ResponseNonce: "9"}
			for i := range 3000 {
				ack.ResourceNames = append(ack.ResourceNames, fmt.Sprintf("outbound|80|v%d|svc-%03d.ns-%d.svc.cluster.local", i%3, i/3, i%10))
			}
			wire, _ := proto.Marshal(ack)
			table := &nameTable{}
			table.set(ack.ResourceNames)
			codec := newRequestCodec(table)
			if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &discoverypb.DiscoveryRequest{}); err != nil {
				b.Fatal(err)
			}
			longer := proto.Clone(ack).(*discoverypb.DiscoveryRequest)
			for i := range others {
				longer.ResourceNames = append(longer.ResourceNames, fmt.Sprintf("outbound|80||extra-%d.svc.cluster.local", i))
				other, _ := proto.Marshal(longer)
				if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(other)}, &discoverypb.DiscoveryRequest{}); err != nil {
					b.Fatal(err)
				}
			}
			data := inPieces(wire, (len(wire)+16383)/16384)
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if err := codec.Unmarshal(data, &discoverypb.DiscoveryRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzRequestCodec: whatever a client sends, the codec decodes it as
// protobuf does, or fails where protobuf fails, also when it has seen the
// request's list of names before.
func FuzzRequestCodec(f *testing.F) {
	long := &discoverypb.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: "1"}
	for i := range 40 {
		long.ResourceNames = append(long.ResourceNames, fmt.Sprintf("outbound|80||svc-%03d.load.svc.cluster.local", i))
	}
	seed, _ := proto.Marshal(long)
	f.Add(seed)
	f.Add(append(slices.Clone(seed), protoAppendString(nil, 3, "one-more")...))
	codec := newRequestCodec(&nameTable{})
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(seed)}, &discoverypb.DiscoveryRequest{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, newMsg := range []func() proto.Message{
			func() proto.Message { return &discoverypb.DiscoveryRequest{} },
			func() proto.Message { return &discoverypb.DeltaDiscoveryRequest{} },
		} {
			want := newMsg()
			wantErr := proto.Unmarshal(b, want)
			for range 2 {
				got := newMsg()
				err := codec.Unmarshal(inPieces(b, 2), got)
				if (err == nil) != (wantErr == nil) {
					t.Fatalf("%T: codec error %v, protobuf's %v", got, err, wantErr)
				}
				if err == nil && !proto.Equal(got, want) {
					t.Fatalf("decoded %v, protobuf %v", got, want)
				}
			}
		}
	})
}

// BenchmarkDecodeDeltaSubscribeOfThreeThousandNames: a Delta sidecar's
// first EDS request at 1000×10 (3,000 names), by the codec (the list sent
// before by another sidecar) and by protobuf, as before codec_delta.go.
func BenchmarkDecodeDeltaSubscribeOfThreeThousandNames(b *testing.B) {
	req := &discoverypb.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType}
	for i := range 3000 {
		req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, fmt.Sprintf("outbound|80|v%d|svc-%03d.ns-%d.svc.cluster.local", i%3, i/3, i%10))
	}
	wire, _ := proto.Marshal(req)
	table := &nameTable{}
	table.set(req.ResourceNamesSubscribe)
	data := inPieces(wire, (len(wire)+16383)/16384)
	for _, tc := range []struct {
		name  string
		codec encoding.CodecV2
	}{{"codec", newRequestCodec(table)}, {"protobuf", encoding.GetCodecV2("proto")}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.codec.Unmarshal(data, &discoverypb.DeltaDiscoveryRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
