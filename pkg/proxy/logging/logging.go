// Package logging is oidc-proxy's log: one stream, in the format of
// --log-format, filtered by -v, that also carries the klog lines of the
// Kubernetes libraries the proxy embeds (the token authenticator,
// client-go, audit, serving), encoded by the same handler with the same
// fields as the proxy's own lines.
package logging

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// Formats of --log-format.
const (
	Text = "text"
	JSON = "json"
)

// MaxVerbosity is the highest -v. From 6 on client-go logs its requests,
// from 8 their bodies, which carry the tokens of TokenReviews: the proxy
// never turns that on.
const MaxVerbosity = 5

// Options are the logging flags.
type Options struct {
	// Format is Text or JSON.
	Format string
	// Verbosity is -v: 0 logs Info and above; n also logs the libraries'
	// klog.V(n) lines and the proxy's Debug lines from 4.
	Verbosity int
}

// NewOptions returns the defaults: JSON, -v=0.
func NewOptions() *Options { return &Options{Format: JSON} }

// AddFlags registers --log-format and -v.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", o.Format,
		"Format of the program's log on stderr, the Kubernetes libraries' lines included: 'json' (one JSON object per line) or 'text' (key=value). The access log has its own --access-log-format.")
	fs.IntVarP(&o.Verbosity, "v", "v", o.Verbosity,
		fmt.Sprintf("Log verbosity, 0 to %d, as kube-apiserver's -v: higher values add the libraries' klog.V(n) lines, and the proxy's debug lines from 4.", MaxVerbosity))
}

// Validate reports every invalid value.
func (o *Options) Validate() []error {
	var errs []error
	if o.Format != Text && o.Format != JSON {
		errs = append(errs, fmt.Errorf("--log-format %q: must be text or json", o.Format))
	}
	if o.Verbosity < 0 || o.Verbosity > MaxVerbosity {
		errs = append(errs, fmt.Errorf("-v %d: must be between 0 and %d (from 6 on client-go would log request bodies, tokens included)", o.Verbosity, MaxVerbosity))
	}
	return errs
}

// New returns the logger writing to out and routes klog (process-wide)
// through the same handler at the same verbosity: klog.V(n) lines reach it
// as slog level -n. restore routes klog back to where it went before.
func (o *Options) New(out io.Writer) (log *slog.Logger, restore func()) {
	opts := &slog.HandlerOptions{Level: slog.Level(-o.Verbosity)}
	var h slog.Handler
	if o.Format == Text {
		h = slog.NewTextHandler(out, opts)
	} else {
		h = slog.NewJSONHandler(out, opts)
	}
	installKlogSink()
	beforeV := setKlogVerbosity(o.Verbosity)
	beforeH := klogSink.target.Swap(&h)
	return slog.New(h), func() {
		klogSink.target.Store(beforeH)
		setKlogVerbosity(beforeV)
	}
}

// setKlogVerbosity sets klog's -v and returns the previous value.
func setKlogVerbosity(v int) int {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	before, _ := strconv.Atoi(fs.Lookup("v").Value.String())
	_ = fs.Set("v", strconv.Itoa(v))
	return before
}

// klogSink is the handler klog writes through. klog's logger may only be
// set while no goroutine logs (klog.SetLogger is not synchronised), so it is
// set once, to this handler, and New and restore only swap its target.
var (
	klogSink        = &sinkHandler{target: new(atomic.Pointer[slog.Handler])}
	installKlogOnce sync.Once
)

func installKlogSink() {
	installKlogOnce.Do(func() {
		stderr := slog.Handler(slog.NewTextHandler(os.Stderr, nil))
		klogSink.target.CompareAndSwap(nil, &stderr)
		klog.SetSlogLogger(slog.New(klogSink))
	})
}

// sinkHandler forwards to its current target, applying the attributes
// and groups added with WithAttrs and WithGroup on the way.
type sinkHandler struct {
	target *atomic.Pointer[slog.Handler]
	with   []func(slog.Handler) slog.Handler
}

func (s *sinkHandler) current() slog.Handler {
	h := *s.target.Load()
	for _, w := range s.with {
		h = w(h)
	}
	return h
}

func (s *sinkHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return (*s.target.Load()).Enabled(ctx, l)
}

func (s *sinkHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.current().Handle(ctx, r)
}

func (s *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sinkHandler{target: s.target, with: append(slices.Clip(s.with), func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })}
}

func (s *sinkHandler) WithGroup(name string) slog.Handler {
	return &sinkHandler{target: s.target, with: append(slices.Clip(s.with), func(h slog.Handler) slog.Handler { return h.WithGroup(name) })}
}
