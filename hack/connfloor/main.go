// Command connfloor measures what Go's own net/http server holds per open
// HTTP/1.1 TLS connection whose handler is waiting (a watch that has sent
// its headers and waits for an event), with nothing else in the process:
// the floor under oidc-proxy's memory per watch from HTTP/1.1 clients
// (docs/benchmarks.md).
//
//	go run ./hack/connfloor -conns 4000
//
// The server is this process; the clients are this program re-executed, so
// their memory is not counted.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	conns := flag.Int("conns", 4000, "HTTP/1.1 TLS connections to hold open")
	dial := flag.String("dial", "", "internal: open the connections to this address, then wait for stdin to close")
	flag.Parse()
	raiseFileLimit()
	if *dial != "" {
		client(*dial, *conns)
		return
	}
	block := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-block
	}))
	srv.StartTLS()
	before := settledRSS()
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(self, "-dial", srv.Listener.Addr().String(), "-conns", strconv.Itoa(*conns))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil { // the client's line: all open
		log.Fatalf("clients: %v", err)
	}
	after := settledRSS()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Printf("%s, %d HTTP/1.1 TLS connections with a waiting handler: %.1f KiB of RSS per connection; %d goroutines, stacks %.1f KiB and heap in use %.1f KiB per connection\n",
		runtime.Version(), *conns, float64(after-before)/float64(*conns), runtime.NumGoroutine(),
		float64(m.StackInuse)/1024/float64(*conns), float64(m.HeapInuse)/1024/float64(*conns))
	_ = stdin.Close()
	_ = cmd.Wait()
	close(block)
	srv.Close()
}

// client opens n connections, each with a GET whose response headers it
// reads, prints a line and holds them until stdin closes.
func client(addr string, n int) {
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}} // the server's test certificate
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, 64)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Fprintf(c, "GET /watch HTTP/1.1\r\nHost: connfloor\r\n\r\n")
			if _, err := c.Read(make([]byte, 512)); err != nil {
				log.Fatal(err)
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Println("open")
	_, _ = os.Stdin.Read(make([]byte, 1))
}

// settledRSS is VmRSS in KiB after a GC, once two readings 250 ms apart
// agree within 1% (at most 5 s).
func settledRSS() int {
	prev := -1
	for i := 0; i < 20; i++ {
		runtime.GC()
		cur := rss()
		if prev > 0 && abs(cur-prev)*100 <= prev {
			return cur
		}
		prev = cur
		time.Sleep(250 * time.Millisecond)
	}
	return prev
}

func rss() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	log.Fatal("no VmRSS")
	return 0
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
