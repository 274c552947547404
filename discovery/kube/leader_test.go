package kube

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

func TestElectorLeadsAndGivesTheLeaseUp(t *testing.T) {
	client := kubefake.NewClientset()
	e, err := NewElector(LeaderOptions{
		Client: client, Namespace: "pilotlight-system", Name: "pilotlight-status", Identity: "replica-a",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second, Log: quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	leading := make(chan context.Context, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(ctx context.Context) { leading <- ctx; <-ctx.Done() })
	}()

	var leadCtx context.Context
	select {
	case leadCtx = <-leading:
	case <-time.After(10 * time.Second):
		t.Fatal("never led")
	}
	if !e.Leading() || e.Identity() != "replica-a" {
		t.Errorf("Leading() = %v, Identity() = %q", e.Leading(), e.Identity())
	}
	lease, err := client.CoordinationV1().Leases("pilotlight-system").Get(context.Background(), "pilotlight-status", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "replica-a" {
		t.Fatalf("lease = %+v, %v", lease, err)
	}

	cancel()
	<-done
	if leadCtx.Err() == nil || e.Leading() {
		t.Error("still leading after Run returned")
	}
	// Given up on the way out, so another replica need not wait for expiry.
	lease, err = client.CoordinationV1().Leases("pilotlight-system").Get(context.Background(), "pilotlight-status", metav1.GetOptions{})
	if err != nil || (lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "") {
		t.Errorf("lease after shutdown = %+v, %v", lease.Spec, err)
	}
}

func TestElectorRejectsDurationsThatCannotRenew(t *testing.T) {
	_, err := NewElector(LeaderOptions{
		Client: kubefake.NewClientset(), Namespace: "ns", Name: "lease", Identity: "a",
		LeaseDuration: 5 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
	})
	if err == nil {
		t.Error("a renew deadline longer than the lease was accepted")
	}
}
