package discovery

import (
	"testing"
)

// TestHeaderFormat: header values as Envoy's formatter reads them.
func TestHeaderFormat(t *testing.T) {
	ok := []string{
		"plain", "", "100%%", "%%%HOSTNAME%", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
		"%REQ(x-user)%", "%REQ(x-a?x-b):10%", "%REQ(:path)%", "%RESP(server)%",
		"%START_TIME%", "%START_TIME(%s.%3f)%", "a %UPSTREAM_CLUSTER% b %ROUTE_NAME%",
	}
	bad := []string{
		"50%", "%", "a%b", "%FOO%", "%hostname%", "%REQ%", "%REQ()%", "%REQ(x-user",
		"%REQ(x-user)", "%HOSTNAME:3%", "%HOSTNAME(x)%", "%REQ(x):%", "%START_TIME(%s):4%",
	}
	for _, v := range ok {
		p := &problemList{}
		checkHeaderFormat(p, "v", v)
		if len(p.list) > 0 {
			t.Errorf("%q: %v, want no problem", v, p.list)
		}
	}
	for _, v := range bad {
		p := &problemList{}
		checkHeaderFormat(p, "v", v)
		if len(p.list) == 0 {
			t.Errorf("%q: no problem, but Envoy rejects it", v)
		}
	}
}
