package apiserverbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-oidc/kube-oidc/internal/loadbench"
)

// watchResult is one fan-out: streams watchers of one configmap through a
// target, then events updates of it by the admin.
type watchResult struct {
	target    string
	proxy     bool
	streams   int
	http2     bool
	openAll   time.Duration // from the first request to every stream's response headers
	p50, p99  time.Duration // per delivery: update sent -> event read by the stream
	maxLat    time.Duration
	missed    int64 // deliveries that never came
	reordered int64 // events read after a later one, or twice
	failed    int   // streams that ended or failed before the last event
	// rssPerStream is the measured process's resident memory with the
	// streams open minus before, divided by streams (after it settled).
	rssPerStream int64
	upstream     int // TCP connections from the proxy to the API server, streams open
}

func (r watchResult) summary() string {
	return fmt.Sprintf("%s, %d streams, %s clients: open %s, p50 %s p99 %s max %s, missed %d reordered %d failed %d, %.1f KiB/stream, upstream conns %d",
		r.target, r.streams, proto(r.http2), r.openAll.Round(time.Millisecond), r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond),
		r.maxLat.Round(10*time.Microsecond), r.missed, r.reordered, r.failed, float64(r.rssPerStream)/1024, r.upstream)
}

const watchedName = "watched"

// fanOut opens streams watches of one configmap through t, sends events
// updates of it one at a time (the next when every stream has read the
// previous, or after 30 s), and measures each delivery.
func fanOut(ctx context.Context, admin kubernetes.Interface, t target, streams, events int, http2 bool, apiPort int) (watchResult, error) {
	res := watchResult{target: t.name, proxy: t.proxy, streams: streams, http2: http2}
	cms := admin.CoreV1().ConfigMaps(namespace)
	cm, err := cms.Get(ctx, watchedName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: watchedName}, Data: map[string]string{"seq": "-1"}}, metav1.CreateOptions{})
	}
	if err != nil {
		return res, fmt.Errorf("watched configmap: %w", err)
	}
	rssBefore := settledRSS(ctx, t.pid)

	tr := loadbench.ClientTransport(t.caPEM, http2)
	tr.MaxIdleConnsPerHost = -1 // a watch's connection is not reused
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchURL := t.url + "/api/v1/namespaces/" + namespace + "/configmaps?watch=true&fieldSelector=metadata.name%3D" + watchedName +
		"&resourceVersion=" + cm.ResourceVersion + "&timeoutSeconds=3600"

	// pending[i] counts the streams that have not yet read event i;
	// done[i] is closed when it reaches 0.
	pending := make([]atomic.Int64, events)
	done := make([]chan struct{}, events)
	for i := range events {
		pending[i].Store(int64(streams))
		done[i] = make(chan struct{})
	}
	latencies := make([][]time.Duration, streams)
	var reordered atomic.Int64
	var failedStreams atomic.Int64
	var readers, opened sync.WaitGroup
	openErrs := make(chan error, streams)
	sem := make(chan struct{}, 64) // streams being opened at once
	begin := time.Now()
	opened.Add(streams)
	readers.Add(streams)
	for s := range streams {
		go func() {
			defer readers.Done()
			sem <- struct{}{}
			req, _ := http.NewRequestWithContext(wctx, http.MethodGet, watchURL, nil)
			req.Header.Set("Authorization", "Bearer "+t.token)
			req.Header.Set("Accept", "application/json")
			resp, err := client.Do(req)
			<-sem
			if err == nil && resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				resp.Body.Close()
				err = fmt.Errorf("%s: %s", resp.Status, body)
			}
			opened.Done()
			if err != nil {
				openErrs <- err
				return
			}
			defer resp.Body.Close()
			lat := make([]time.Duration, events)
			for i := range lat {
				lat[i] = -1
			}
			latencies[s] = lat
			last := -1
			dec := json.NewDecoder(resp.Body)
			for {
				var ev struct {
					Type   string `json:"type"`
					Object struct {
						Data map[string]string `json:"data"`
					} `json:"object"`
				}
				if err := dec.Decode(&ev); err != nil {
					if wctx.Err() == nil {
						failedStreams.Add(1)
					}
					return
				}
				now := time.Now()
				if ev.Type != "MODIFIED" {
					continue
				}
				seq, err1 := strconv.Atoi(ev.Object.Data["seq"])
				sent, err2 := strconv.ParseInt(ev.Object.Data["sent"], 10, 64)
				if err1 != nil || err2 != nil || seq < 0 || seq >= events {
					continue
				}
				if seq <= last || lat[seq] >= 0 {
					reordered.Add(1)
				}
				last = max(last, seq)
				if lat[seq] < 0 {
					lat[seq] = now.Sub(time.Unix(0, sent))
					if pending[seq].Add(-1) == 0 {
						close(done[seq])
					}
				}
			}
		}()
	}
	opened.Wait()
	res.openAll = time.Since(begin)
	select {
	case err := <-openErrs:
		return res, fmt.Errorf("open a watch: %w (%d of %d failed)", err, len(openErrs)+1, streams)
	default:
	}
	if rss := settledRSS(ctx, t.pid); rss > 0 && rssBefore > 0 {
		res.rssPerStream = (rss - rssBefore) / int64(streams)
	}
	if t.proxy {
		if res.upstream, err = loadbench.TCPConnsTo(t.pid, apiPort); err != nil {
			return res, err
		}
	}

	for i := range events {
		cm.Data = map[string]string{"seq": strconv.Itoa(i), "sent": strconv.FormatInt(time.Now().UnixNano(), 10)}
		cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			return res, fmt.Errorf("update %d: %w", i, err)
		}
		select {
		case <-done[i]:
		case <-time.After(30 * time.Second): // counted as missed below
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	cancel()
	readers.Wait()
	res.failed = int(failedStreams.Load())
	res.reordered = reordered.Load()
	var all []time.Duration
	for _, lat := range latencies {
		for _, d := range lat {
			if d < 0 {
				res.missed++
				continue
			}
			all = append(all, d)
		}
	}
	slices.Sort(all)
	res.p50, res.p99 = loadbench.Percentile(all, 0.50), loadbench.Percentile(all, 0.99)
	if len(all) > 0 {
		res.maxLat = all[len(all)-1]
	}
	return res, nil
}

// settledRSS is pid's resident memory once two readings 250 ms apart
// differ by less than 1% (at most 5 s), for memory that a process
// allocated for new connections to settle after their set-up.
func settledRSS(ctx context.Context, pid int) int64 {
	prev := loadbench.StatusBytes(pid, "VmRSS")
	for range 20 {
		select {
		case <-ctx.Done():
			return prev
		case <-time.After(250 * time.Millisecond):
		}
		cur := loadbench.StatusBytes(pid, "VmRSS")
		if d := cur - prev; d*100 < prev && -d*100 < prev {
			return cur
		}
		prev = cur
	}
	return prev
}

// slowResult is one watcher that stops reading while updates of a large
// configmap keep flowing.
type slowResult struct {
	target             string
	events             int
	sentBytes          int64
	rssBefore, rssPeak int64 // of the measured process
	rssAfter           int64 // settled, after the last update, the watcher still not reading
	// readLater is what the watcher could still read once it resumed
	// reading (until the stream ended or 10 s passed); ended says whether
	// the server had ended the stream.
	readLater int64
	ended     bool
}

const slowName = "slow"

func slowClient(ctx context.Context, admin kubernetes.Interface, t target, events, size int) (slowResult, error) {
	res := slowResult{target: t.name, events: events}
	cms := admin.CoreV1().ConfigMaps(namespace)
	cm, err := cms.Get(ctx, slowName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: slowName}}, metav1.CreateOptions{})
	}
	if err != nil {
		return res, fmt.Errorf("slow configmap: %w", err)
	}
	tr := loadbench.ClientTransport(t.caPEM, false)
	defer tr.CloseIdleConnections()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(wctx, http.MethodGet, t.url+"/api/v1/namespaces/"+namespace+
		"/configmaps?watch=true&fieldSelector=metadata.name%3D"+slowName+"&resourceVersion="+cm.ResourceVersion+"&timeoutSeconds=3600", nil)
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("watch: %s", resp.Status)
	}
	res.rssBefore = settledRSS(ctx, t.pid)
	res.rssPeak = res.rssBefore
	for i := range events {
		cm.Data = map[string]string{"data": payload(size, i+1000*len(t.name))}
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return res, fmt.Errorf("update %d: %w", i, err)
		}
		res.sentBytes += int64(size)
		res.rssPeak = max(res.rssPeak, loadbench.StatusBytes(t.pid, "VmRSS"))
	}
	res.rssAfter = settledRSS(ctx, t.pid)
	res.rssPeak = max(res.rssPeak, res.rssAfter)

	readDone := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.Discard, resp.Body)
		res.readLater = n
		readDone <- err
	}()
	select {
	case err := <-readDone:
		res.ended = err == nil || !errors.Is(err, context.Canceled)
	case <-time.After(10 * time.Second):
		cancel()
		<-readDone
	}
	return res, nil
}
