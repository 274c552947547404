package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
)

// requiredResources are the Istio kinds the informers watch
// (discovery/kube/informers.go), by group/version and plural name. Without
// their CRDs the informers never sync, and pilotlight is never ready.
// (RateLimitPolicies are read only when their CRD is served: optional.)
var requiredResources = map[string][]string{
	"networking.istio.io/v1":       {"destinationrules", "gateways", "sidecars", "virtualservices"},
	"networking.istio.io/v1alpha3": {"envoyfilters"},
	"security.istio.io/v1":         {"authorizationpolicies", "peerauthentications", "requestauthentications"},
	"telemetry.istio.io/v1":        {"telemetries"},
}

// crdCheck says which of requiredResources the API server does not serve,
// so that /readyz and the log can name them instead of waiting silently.
type crdCheck struct {
	client discovery.DiscoveryInterface
	log    *slog.Logger

	mu      sync.Mutex
	missing []string // e.g. virtualservices.networking.istio.io
	checked bool
}

// run checks now and then every interval until all are served.
func (c *crdCheck) run(ctx context.Context, interval time.Duration) {
	for {
		missing, err := c.check()
		c.mu.Lock()
		changed := !c.checked || !slices.Equal(missing, c.missing)
		if err == nil {
			c.missing, c.checked = missing, true
		}
		c.mu.Unlock()
		switch {
		case err != nil:
			c.log.Warn("cannot list the API server's resources", "error", err)
		case len(missing) > 0 && changed:
			c.log.Error("Istio CRDs missing: pilotlight cannot become ready until they are installed (kubectl apply -k deploy/)", "missing", strings.Join(missing, ", "))
		case len(missing) == 0:
			if changed {
				c.log.Info("Istio CRDs present")
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (c *crdCheck) check() ([]string, error) {
	var missing []string
	for _, gv := range slices.Sorted(maps.Keys(requiredResources)) {
		group, _, _ := strings.Cut(gv, "/")
		list, err := c.client.ServerResourcesForGroupVersion(gv)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		served := map[string]bool{}
		if list != nil {
			for _, r := range list.APIResources {
				served[r.Name] = true
			}
		}
		for _, name := range requiredResources[gv] {
			if !served[name] {
				missing = append(missing, name+"."+group)
			}
		}
	}
	return missing, nil
}

// notReady is why /readyz fails because of CRDs, or "".
func (c *crdCheck) notReady() string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.missing) == 0 {
		return ""
	}
	return fmt.Sprintf("Istio CRDs missing: %s (install them: kubectl apply -k deploy/)", strings.Join(c.missing, ", "))
}
