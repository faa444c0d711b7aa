package loadbench

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestTCPConnsToCountsOnlyThisProcessesSocketsToThePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		conns = append(conns, c)
	}
	// The accepted ends have the clients' ports as remote ports, so only
	// the three dialled ends count.
	n, err := TCPConnsTo(os.Getpid(), port)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(conns) {
		t.Errorf("TCPConnsTo = %d, want %d", n, len(conns))
	}
	if _, err := TCPConnsTo(0, port); err == nil {
		t.Error("TCPConnsTo(pid 0): no error")
	}
}

func TestStatusBytesAndProcessCPUReadThisProcess(t *testing.T) {
	if rss := StatusBytes(os.Getpid(), "VmRSS"); rss < 1<<20 {
		t.Errorf("VmRSS = %d bytes, want at least 1 MiB", rss)
	}
	if b := StatusBytes(os.Getpid(), "NoSuchField"); b != 0 {
		t.Errorf("unknown field = %d, want 0", b)
	}
	if ProcessCPU(0) != 0 {
		t.Error("ProcessCPU(0) != 0")
	}
}

func TestLoadCountsNon200AsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path     string
		wantErrs bool
	}{{"/good", false}, {"/bad", true}} {
		r := Load{
			Client: srv.Client(),
			NewRequest: func(ctx context.Context) *http.Request {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+tc.path, nil)
				return req
			},
			Concurrency: 2, Duration: 50 * time.Millisecond, MaxRequests: 20, PID: os.Getpid(),
		}.Run(t.Context())
		if r.Requests == 0 || r.Requests > 21 {
			t.Errorf("%s: %d requests, want 1..21 (MaxRequests 20, 2 clients)", tc.path, r.Requests)
		}
		if gotErrs := r.Errors == r.Requests; gotErrs != tc.wantErrs {
			t.Errorf("%s: %d errors of %d requests", tc.path, r.Errors, r.Requests)
		}
	}
}

func TestMedianAndPercentile(t *testing.T) {
	if got := MedianOf([]float64{3, 1, 2}); got != 2 {
		t.Errorf("MedianOf = %v, want 2", got)
	}
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if got := Percentile(sorted, 0.5); got != 6 {
		t.Errorf("p50 = %v, want 6", got)
	}
	if got := Percentile(sorted, 0.99); got != 10 {
		t.Errorf("p99 = %v, want 10", got)
	}
	m := Median([]Result{{RPS: 1, P99: 30}, {RPS: 3, P99: 10}, {RPS: 2, P99: 20}})
	if m.RPS != 2 || m.P99 != 20 {
		t.Errorf("Median = %+v", m)
	}
}
