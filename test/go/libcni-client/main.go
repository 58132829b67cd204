// A libcni-based client (Debian's golang-github-appc-cni-dev, libcni 1.1.x)
// for the interop tests: cnitool's add/check/del with an injectable cache
// directory, plus "cached" which prints what libcni reads from a cache entry.
// Built offline by test/helpers/libcni-client.ts (GOPATH mode).
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: libcni-client add|check|del|cached NET NETNS")
		os.Exit(2)
	}
	list, err := libcni.LoadConfList(os.Getenv("NETCONFPATH"), os.Args[2])
	if err != nil {
		fail(err)
	}
	netns, _ := filepath.Abs(os.Args[3])
	s := sha512.Sum512([]byte(netns))
	ifName, ok := os.LookupEnv("CNI_IFNAME")
	if !ok {
		ifName = "eth0"
	}
	rt := &libcni.RuntimeConf{ContainerID: fmt.Sprintf("cnitool-%x", s[:10]), NetNS: netns, IfName: ifName}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		for _, pair := range strings.Split(args, ";") {
			kv := strings.Split(pair, "=")
			if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
				fail(fmt.Errorf("invalid CNI_ARGS pair %q", pair))
			}
			rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &rt.CapabilityArgs); err != nil {
			fail(err)
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), nil)
	ctx := context.Background()
	switch os.Args[1] {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		_ = res.Print()
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "cached":
		conf, crt, err := cni.GetNetworkListCachedConfig(list, rt)
		if err != nil {
			fail(err)
		}
		res, err := cni.GetNetworkListCachedResult(list, rt)
		if err != nil {
			fail(err)
		}
		out := map[string]interface{}{"config": string(conf), "result": res}
		if crt != nil {
			out["capabilityArgs"] = crt.CapabilityArgs
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	default:
		fail(fmt.Errorf("unknown verb %q", os.Args[1]))
	}
}
