package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// lines splits a log stream into its lines.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestLibraryKlogLinesJoinTheProxysStream(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, line string)
		verbose bool // klog.V(4) and the proxy's Debug appear
	}{
		{"json", []string{"--log-format=json"}, func(t *testing.T, line string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not a JSON line: %q: %v", line, err)
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := m[k]; !ok {
					t.Errorf("line %q lacks the proxy's field %q", line, k)
				}
			}
		}, false},
		{"text", []string{"--log-format=text", "-v=4"}, func(t *testing.T, line string) {
			if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") || !strings.Contains(line, " msg=") {
				t.Errorf("not a slog text line: %q", line)
			}
		}, true},
		{"default is json", nil, func(t *testing.T, line string) {
			if !json.Valid([]byte(line)) {
				t.Errorf("not a JSON line: %q", line)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if errs := o.Validate(); len(errs) > 0 {
				t.Fatal(errs)
			}
			var out bytes.Buffer
			log, restore := o.New(&out)
			defer restore()

			log.Info("proxy line", "path", "/api")
			log.Debug("proxy debug line")
			klog.Infof("library line %d", 1)
			klog.InfoS("library structured line", "issuer", "https://issuer.example")
			klog.LoggerWithValues(klog.Background(), "component", "authn").Info("library contextual line")
			klog.V(4).Info("library verbose line")
			klog.Errorf("library error line")
			klog.Flush()

			got := out.String()
			for _, want := range []string{"proxy line", "library line 1", "library structured line", "library error line", "library contextual line", "authn"} {
				if !strings.Contains(got, want) {
					t.Errorf("stream lacks %q:\n%s", want, got)
				}
			}
			for _, line := range lines(got) {
				tt.check(t, line)
			}
			if !strings.Contains(got, "https://issuer.example") {
				t.Errorf("klog's key/value pairs are lost:\n%s", got)
			}
			for _, verbose := range []string{"library verbose line", "proxy debug line"} {
				if strings.Contains(got, verbose) != tt.verbose {
					t.Errorf("%q in the stream: %v, want %v (-v)", verbose, !tt.verbose, tt.verbose)
				}
			}
		})
	}
}

func TestRestoreSendsKlogBackToItsOwnOutput(t *testing.T) {
	var out bytes.Buffer
	_, restore := NewOptions().New(&out)
	restore()
	klog.Info("after restore")
	klog.Flush()
	if strings.Contains(out.String(), "after restore") {
		t.Error("klog still writes to the proxy's stream after restore")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--log-format=xml"}, `--log-format "xml": must be text or json`},
		{[]string{"-v=6"}, "-v 6: must be between 0 and 5"},
		{[]string{"-v=-1"}, "-v -1: must be between 0 and 5"},
	}
	for _, tt := range tests {
		o := NewOptions()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		errs := o.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, errs, tt.want)
		}
	}
}
