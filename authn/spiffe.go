package authn

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultTrustDomain is Istio's default trust domain (meshConfig.trustDomain).
const DefaultTrustDomain = "cluster.local"

// Identity is who a workload is: its ServiceAccount in its namespace, in a
// trust domain. It is what a workload certificate's URI SAN says.
type Identity struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// SpiffeID renders spiffe://<trust domain>/ns/<namespace>/sa/<service account>.
func (id Identity) SpiffeID() string {
	return SpiffeID(id.TrustDomain, id.Namespace, id.ServiceAccount)
}

func (id Identity) String() string { return id.SpiffeID() }

// SpiffeID is the SPIFFE ID of a service account, as Istio writes it
// (pkg/spiffe: spiffe://TD/ns/NS/sa/SA).
func SpiffeID(trustDomain, namespace, serviceAccount string) string {
	return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

// ParseSpiffeID reads an Istio-style SPIFFE ID back into an Identity.
func ParseSpiffeID(id string) (Identity, error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "spiffe" || u.Host == "" {
		return Identity{}, fmt.Errorf("%q is not a spiffe:// ID", id)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" || parts[1] == "" || parts[3] == "" {
		return Identity{}, fmt.Errorf("%q: want spiffe://<trust domain>/ns/<namespace>/sa/<service account>", id)
	}
	return Identity{TrustDomain: u.Host, Namespace: parts[1], ServiceAccount: parts[3]}, nil
}
