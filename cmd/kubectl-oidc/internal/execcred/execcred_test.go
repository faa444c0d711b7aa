package execcred

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/pkg/apis/clientauthentication"
	"k8s.io/client-go/pkg/apis/clientauthentication/install"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    Request
		wantErr string
	}{
		{name: "absent", value: "", want: Request{APIVersion: V1beta1, Interactive: true}},
		{name: "blank", value: "  \n", want: Request{APIVersion: V1beta1, Interactive: true}},
		{name: "v1 interactive", value: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}`, want: Request{APIVersion: V1, Interactive: true}},
		{name: "v1 not interactive", value: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`, want: Request{APIVersion: V1}},
		{name: "v1beta1 with cluster", value: `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"cluster":{"server":"https://k"},"interactive":true}}`, want: Request{APIVersion: V1beta1, Interactive: true, ClusterServer: "https://k"}},
		{name: "v1 with cluster", value: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":{"server":"https://proxy:6443","certificate-authority-data":"eA=="},"interactive":false}}`, want: Request{APIVersion: V1, ClusterServer: "https://proxy:6443"}},
		{name: "v1 without spec", value: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}`, want: Request{APIVersion: V1}},
		{name: "not JSON", value: `secret-looking-garbage`, wantErr: "KUBERNETES_EXEC_INFO is not a JSON ExecCredential (invalid JSON at byte 1)"},
		{name: "truncated", value: `{"apiVersion":"client.authentication.k8s.io/v1",`, wantErr: "(truncated JSON)"},
		{name: "no kind", value: `{"apiVersion":"client.authentication.k8s.io/v1"}`, wantErr: `kind "", want "ExecCredential"`},
		{name: "v1alpha1", value: `{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential"}`, wantErr: `apiVersion "client.authentication.k8s.io/v1alpha1"`},
		{name: "wrong type", value: `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":[]}`, wantErr: `field "spec" has the wrong type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret-looking") {
					t.Errorf("error quotes the input: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestWriteDecodesWithClientGo decodes the answer with client-go's own
// scheme for the exec credential API, as kubectl does.
func TestWriteDecodesWithClientGo(t *testing.T) {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	codecs := serializer.NewCodecFactory(scheme)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		apiVersion string
		expiry     time.Time
	}{
		{name: "v1", apiVersion: V1, expiry: exp},
		{name: "v1beta1", apiVersion: V1beta1, expiry: exp},
		{name: "v1 without expiry", apiVersion: V1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tt.apiVersion, "the-token", tt.expiry); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(buf.String(), "}\n") || strings.Count(buf.String(), "\n") != 1 {
				t.Errorf("output is not one JSON line: %q", buf.String())
			}
			obj, gvk, err := codecs.UniversalDecoder().Decode(buf.Bytes(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if gvk.GroupVersion().String() != tt.apiVersion || gvk.Kind != "ExecCredential" {
				t.Errorf("decoded as %v", gvk)
			}
			c := obj.(*clientauthentication.ExecCredential)
			if c.Status == nil || c.Status.Token != "the-token" {
				t.Fatalf("status %+v", c.Status)
			}
			switch {
			case tt.expiry.IsZero() && c.Status.ExpirationTimestamp != nil:
				t.Errorf("expirationTimestamp %v, want none", c.Status.ExpirationTimestamp)
			case !tt.expiry.IsZero() && (c.Status.ExpirationTimestamp == nil || !c.Status.ExpirationTimestamp.Time.Equal(tt.expiry)):
				t.Errorf("expirationTimestamp %v, want %v", c.Status.ExpirationTimestamp, tt.expiry)
			}
		})
	}
	if err := Write(&bytes.Buffer{}, "v2", "t", exp); err == nil {
		t.Error("unknown apiVersion written")
	}
}
