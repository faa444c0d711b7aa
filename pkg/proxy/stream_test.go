package proxy

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWatchChunksReachTheClientAsSent(t *testing.T) {
	step := make(chan string)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for ev := range step {
			_, _ = io.WriteString(w, ev+"\n")
			w.(http.Flusher).Flush()
		}
	})
	p := newTestProxy(t, up, newFakeAuth())
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/api/v1/namespaces/default/pods?watch=true", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	res, err := p.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("code %d", res.StatusCode)
	}
	rd := bufio.NewReader(res.Body)
	// Each event must arrive before the upstream sends the next one: the
	// upstream blocks on the channel, so a buffering proxy would hang here
	// (the test deadline catches it).
	for i := range 3 {
		ev := fmt.Sprintf(`{"type":"ADDED","object":{"n":%d}}`, i)
		step <- ev
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if strings.TrimSpace(line) != ev {
			t.Fatalf("event %d = %q, want %q", i, line, ev)
		}
	}
	close(step)
	if rest, _ := io.ReadAll(rd); len(rest) != 0 {
		t.Fatalf("unexpected trailing data %q", rest)
	}
}

// TestWebSocketUpgradeThroughTheProxy authenticates with the bearer entry
// of Sec-WebSocket-Protocol, as kubectl exec over WebSocket does, and echoes
// bytes over the hijacked connection.
func TestWebSocketUpgradeThroughTheProxy(t *testing.T) {
	type seen struct {
		proto     int
		protocols string
		user      string
		auth      string
	}
	seenCh := make(chan seen, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		seenCh <- seen{r.ProtoMajor, strings.Join(r.Header.Values("Sec-Websocket-Protocol"), ","), r.Header.Get("Impersonate-User"), r.Header.Get("Authorization")}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n")
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = io.WriteString(conn, "echo: "+line)
		}
	})
	p := newTestProxy(t, up, newFakeAuth())

	conn, err := net.Dial("tcp", p.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a hung proxy fails instead of hanging the suite
	tokenProto := "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(aliceToken))
	fmt.Fprintf(conn, "GET /api/v1/namespaces/default/pods/p/exec?command=sh HTTP/1.1\r\nHost: proxy\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Protocol: %s, v5.channel.k8s.io\r\n\r\n", tokenProto)
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("code %d: %s", res.StatusCode, b)
	}
	got := <-seenCh
	if got.proto != 1 {
		t.Errorf("upgrade went upstream over HTTP/%d, want HTTP/1.1", got.proto)
	}
	if strings.Contains(got.protocols, "bearer") || got.protocols != "v5.channel.k8s.io" {
		t.Errorf("upstream Sec-WebSocket-Protocol %q, want only v5.channel.k8s.io", got.protocols)
	}
	if got.user != alice.Name || got.auth != "Bearer "+proxyCredential {
		t.Errorf("upstream identity user=%q auth=%q", got.user, got.auth)
	}
	for _, msg := range []string{"hello\n", "second line\n"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line != "echo: "+msg {
			t.Fatalf("got %q, want %q", line, "echo: "+msg)
		}
	}
	// The access log line, written once the upgraded connection ends,
	// carries the 101 the upstream answered (not 0: the response went out
	// on the hijacked connection, past WriteHeader).
	conn.Close()
	want := `"path":"/api/v1/namespaces/default/pods/p/exec","code":101,`
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("access log has no %s:\n%s", want, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWebSocketWithoutTokenIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	p := newTestProxy(t, up, newFakeAuth())
	hdr := http.Header{
		"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":      {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte("wrong-token-123456")) + ", v5.channel.k8s.io"},
	}
	res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods/p/exec", hdr)
	decodeStatus(t, res, body, http.StatusUnauthorized)
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("%d requests forwarded", n)
	}
}
