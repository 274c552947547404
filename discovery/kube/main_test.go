package kube

import (
	"os"
	"testing"

	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// Istio's generated informers cannot tell client-go that the fake
	// clientset does not stream an initial list over a watch (WatchList),
	// so their reflectors would wait for a bookmark that never comes. A real
	// API server streams it; the fakes need the classic list-then-watch.
	// client-go reads this once, at the first feature check.
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	// client-go's informers and leader election log through klog.
	klog.SetSlogLogger(quietLog())
	os.Exit(m.Run())
}
