package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestResponseChunksByRequestKind reads the raw HTTP/1.1 chunks the proxy
// writes for an upstream body sent in small flushed pieces without a
// Content-Length. A request kube-apiserver answers as a whole (get, list)
// leaves in one chunk. Each piece of a stream (watch, logs -f, a
// non-resource path) reaches the client as its own chunk: the upstream
// sends the next piece only once the client has read the previous one, so
// a proxy that waited for more would hang (the test deadline catches it).
func TestResponseChunksByRequestKind(t *testing.T) {
	const pieces, size = 8, 1000
	read := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		stream := r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("follow") == "true" || r.URL.Path == "/metrics"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		for i := range pieces {
			if stream && i > 0 {
				<-read
			}
			_, _ = io.WriteString(w, strings.Repeat(strconv.Itoa(i), size))
			w.(http.Flusher).Flush()
		}
	})
	p := newTestProxy(t, up, newFakeAuth())
	for _, tc := range []struct {
		name, path string
		whole      bool
	}{
		{"list", "/api/v1/namespaces/default/configmaps", true},
		{"get", "/api/v1/namespaces/default/configmaps/a", true},
		{"list of a group's resource", "/apis/apps/v1/deployments?limit=500", true},
		{"watch", "/api/v1/namespaces/default/configmaps?watch=true", false},
		{"logs", "/api/v1/namespaces/default/pods/a/log?follow=true", false},
		{"non-resource", "/metrics", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := rawChunks(t, p.Listener.Addr().String(), tc.path, func(n int) {
				if !tc.whole && n < pieces {
					read <- struct{}{}
				}
			})
			total := 0
			for _, n := range chunks {
				total += n
			}
			if total != pieces*size {
				t.Fatalf("body of %d bytes in chunks %v, want %d bytes", total, chunks, pieces*size)
			}
			if tc.whole && len(chunks) != 1 {
				t.Fatalf("chunks %v, want the whole body in one", chunks)
			}
			if !tc.whole && len(chunks) != pieces {
				t.Fatalf("chunks %v, want each of the %d pieces in its own", chunks, pieces)
			}
		})
	}
}

// TestUpstreamProtocolByRequestKind: requests answered as a whole go over
// the HTTP/1.1 keep-alive pool, streams over HTTP/2 (many watches share a
// connection).
func TestUpstreamProtocolByRequestKind(t *testing.T) {
	up := newUpstream(t, nil)
	p := newTestProxy(t, up, newFakeAuth())
	for _, tc := range []struct {
		path  string
		proto int
	}{
		{"/api/v1/namespaces/default/configmaps", 1},
		{"/api/v1/namespaces/default/configmaps/a", 1},
		{"/api/v1/namespaces/default/configmaps?watch=true", 2},
		{"/api/v1/watch/namespaces/default/configmaps", 2},
		{"/api/v1/namespaces/default/pods/a/log", 2},
		{"/version", 2},
	} {
		n := len(up.Requests())
		res, body := p.do(t, http.MethodGet, tc.path, bearer(aliceToken))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: code %d: %s", tc.path, res.StatusCode, body)
		}
		reqs := up.Requests()
		if len(reqs) != n+1 {
			t.Fatalf("%s: upstream got %d requests, want 1", tc.path, len(reqs)-n)
		}
		if got := reqs[n].ProtoMajor; got != tc.proto {
			t.Errorf("%s: upstream HTTP/%d, want HTTP/%d", tc.path, got, tc.proto)
		}
	}
}

// rawChunks sends an HTTP/1.1 GET with alice's token and returns the sizes
// of the response's chunks; after reading the nth chunk it calls read(n).
func rawChunks(t *testing.T, addr, path string, read func(n int)) []int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", path, aliceToken)
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("code %d, transfer encoding %v", res.StatusCode, res.TransferEncoding)
	}
	// Read the chunks themselves from the bytes after the header.
	var sizes []int
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("chunk header: %v", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
		if err != nil {
			t.Fatalf("chunk header %q: %v", line, err)
		}
		if n == 0 {
			return sizes
		}
		sizes = append(sizes, int(n))
		if _, err := io.CopyN(io.Discard, rd, n+2); err != nil {
			t.Fatalf("chunk: %v", err)
		}
		read(len(sizes))
	}
}

// TestWholeResponseCutUpstreamIsCutForTheClient: a LIST whose upstream
// stream breaks part way must not reach the client as a complete body.
func TestWholeResponseCutUpstreamIsCutForTheClient(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"kind":"ConfigMapList","items":[`+strings.Repeat(" ", 3000))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	p := newTestProxy(t, up, newFakeAuth())
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/api/v1/namespaces/default/configmaps", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	res, err := p.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil {
		t.Fatalf("read %d bytes and a clean end, want an error", len(body))
	}
}
