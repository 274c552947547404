// Command etcd is etcd's own server, built at the version that
// k8s.io/kubernetes v1.34 requires (go.etcd.io/etcd/server/v3), so the tests
// need no system package. It is the same entry point as etcd's main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
