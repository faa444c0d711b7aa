package harness

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// EtcdServer is a single-member etcd on 127.0.0.1 with its data in a temp dir.
type EtcdServer struct {
	URL     string
	Process *Process
}

// StartEtcd starts etcd and waits until /health reports true.
func StartEtcd(t testing.TB) *EtcdServer {
	t.Helper()
	bin := RequireBinary(t, Etcd)
	dir := t.TempDir()
	clientPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	peerPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p := startProcess(t, "etcd", dir, nil, bin,
		"--name", "e2e",
		"--data-dir", dir+"/data",
		"--listen-client-urls", url,
		"--advertise-client-urls", url,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e="+peer,
		"--log-level", "warn",
	)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err = waitReady(ctx, p, 100*time.Millisecond, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body := readAllLimit(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/health: %s: %s", resp.Status, body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("etcd: %v\n%s", err, p.Describe())
	}
	return &EtcdServer{URL: url, Process: p}
}
