package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kube-oidc/kube-oidc/internal/gcfloor"
)

// defaultGCHeapFloor is the garbage collector's minimum runway; measured in
// docs/benchmarks.md (proxy CPU per request about -3.5 µs under load).
const defaultGCHeapFloor = 32 << 20

// gcOptions is --gc-heap-floor.
type gcOptions struct{ floor resource.Quantity }

func newGCOptions() *gcOptions {
	return &gcOptions{floor: *resource.NewQuantity(defaultGCHeapFloor, resource.BinarySI)}
}

func (o *gcOptions) AddFlags(fs *pflag.FlagSet) {
	fs.Var(quantityValue{&o.floor}, "gc-heap-floor",
		"Let the heap grow at least this much (a Kubernetes quantity, e.g. 32Mi) between garbage collections while the live heap is smaller; "+
			"above it Go's default (GOGC=100) applies. 0 disables it, and so does setting GOGC in the environment.")
}

func (o *gcOptions) Validate() []error {
	switch {
	case o.floor.Sign() < 0:
		return []error{fmt.Errorf("--gc-heap-floor must not be negative, got %s", o.floor.String())}
	case o.floor.Cmp(*resource.NewQuantity(gcfloor.MaxFloor, resource.BinarySI)) > 0:
		return []error{fmt.Errorf("--gc-heap-floor must be at most 1Ti, got %s", o.floor.String())}
	}
	return nil
}

// start starts the tuner unless it is disabled; the returned function stops it.
func (o *gcOptions) start(log *slog.Logger) func() {
	floor := o.floor.Value()
	switch {
	case floor == 0:
		return func() {}
	case os.Getenv("GOGC") != "":
		log.Info("garbage collector: GOGC is set in the environment, --gc-heap-floor is not applied", "GOGC", os.Getenv("GOGC"))
		return func() {}
	}
	t := gcfloor.Start(uint64(floor))
	log.Info("garbage collector: heap floor", "floorBytes", floor, "GOGC", t.Percent())
	return t.Stop
}

// quantityValue is a pflag.Value for a resource.Quantity.
type quantityValue struct{ q *resource.Quantity }

func (v quantityValue) String() string { return v.q.String() }
func (v quantityValue) Type() string   { return "quantity" }
func (v quantityValue) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("not a quantity such as 32Mi: %w", err)
	}
	*v.q = q
	return nil
}
