package proxy

import (
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
	spdyserver "k8s.io/streaming/pkg/httpstream/spdy"
)

// TestSPDYUpgradeThroughTheProxy runs client-go's SPDY dialer (what kubectl
// exec, attach and port-forward fall back to) through the proxy to an
// upstream that speaks SPDY with apimachinery's upgrader, and echoes bytes
// over a stream: the upgrade goes upstream over HTTP/1.1 as the impersonated
// user with the proxy's credential, and the multiplexed stream works both
// ways.
func TestSPDYUpgradeThroughTheProxy(t *testing.T) {
	type seen struct {
		proto      int
		user, auth string
	}
	seenCh := make(chan seen, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		seenCh <- seen{r.ProtoMajor, r.Header.Get("Impersonate-User"), r.Header.Get("Authorization")}
		streams := make(chan httpstream.Stream, 1)
		w.Header().Set(httpstream.HeaderProtocolVersion, "v4.channel.k8s.io")
		conn := spdyserver.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, _ <-chan struct{}) error {
			streams <- s
			return nil
		})
		if conn == nil {
			return // the upgrader answered with an error
		}
		defer conn.Close()
		select {
		case s := <-streams:
			_, _ = io.Copy(s, s) // echo until the client closes its side
			_ = s.Close()
		case <-conn.CloseChan():
		case <-time.After(20 * time.Second): // a hung proxy fails the test instead of hanging it
		}
	})
	p := newTestProxy(t, up, newFakeAuth())

	rt, upgrader, err := spdy.RoundTripperFor(&rest.Config{Host: p.URL, BearerToken: aliceToken})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(p.URL + "/api/v1/namespaces/default/pods/p/exec?command=sh&stdin=true")
	if err != nil {
		t.Fatal(err)
	}
	conn, proto, err := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u).Dial("v4.channel.k8s.io")
	if err != nil {
		t.Fatalf("SPDY dial through the proxy: %v", err)
	}
	defer conn.Close()
	if proto != "v4.channel.k8s.io" {
		t.Errorf("negotiated %q, want v4.channel.k8s.io", proto)
	}
	got := <-seenCh
	if got.proto != 1 {
		t.Errorf("upgrade went upstream over HTTP/%d, want HTTP/1.1", got.proto)
	}
	if got.user != alice.Name || got.auth != "Bearer "+proxyCredential {
		t.Errorf("upstream identity user=%q auth=%q", got.user, got.auth)
	}
	s, err := conn.CreateStream(http.Header{"streamType": {"stdin"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := "hello over SPDY\n"
	if _, err := io.WriteString(s, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
}
