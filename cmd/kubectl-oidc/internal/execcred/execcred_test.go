package execcred

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/pkg/apis/clientauthentication"
	"k8s.io/client-go/pkg/apis/clientauthentication/install"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	clientauthv1beta1 "k8s.io/client-go/pkg/apis/clientauthentication/v1beta1"
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

// TestWriteIsClientGosJSON compares the answer byte for byte with
// client-go's types encoded by encoding/json.
func TestWriteIsClientGosJSON(t *testing.T) {
	tests := []struct {
		name       string
		apiVersion string
		expiry     time.Time
	}{
		{name: "v1", apiVersion: V1, expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		{name: "v1beta1, sub-second expiry in another zone", apiVersion: V1beta1, expiry: time.Date(2030, 1, 2, 3, 4, 5, 999_000_000, time.FixedZone("X", 3600))},
		{name: "v1 without expiry", apiVersion: V1},
		{name: "v1beta1 without expiry", apiVersion: V1beta1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var exp *metav1.Time
			if !tt.expiry.IsZero() {
				exp = &metav1.Time{Time: tt.expiry}
			}
			var v any = &clientauthv1.ExecCredential{
				TypeMeta: metav1.TypeMeta{APIVersion: V1, Kind: kind},
				Status:   &clientauthv1.ExecCredentialStatus{Token: "the-token", ExpirationTimestamp: exp},
			}
			if tt.apiVersion == V1beta1 {
				v = &clientauthv1beta1.ExecCredential{
					TypeMeta: metav1.TypeMeta{APIVersion: V1beta1, Kind: kind},
					Status:   &clientauthv1beta1.ExecCredentialStatus{Token: "the-token", ExpirationTimestamp: exp},
				}
			}
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := Write(&got, tt.apiVersion, "the-token", tt.expiry); err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want)+"\n" {
				t.Errorf("got  %s\nwant %s", got.String(), want)
			}
		})
	}
}

// TestParseRequestReadsWhatClientGoWrites parses kubectl's request as
// client-go's types encode it, every cluster field set.
func TestParseRequestReadsWhatClientGoWrites(t *testing.T) {
	c := clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: V1, Kind: kind},
		Spec: clientauthv1.ExecCredentialSpec{Interactive: true, Cluster: &clientauthv1.Cluster{
			Server: "https://proxy:6443", TLSServerName: "proxy", InsecureSkipTLSVerify: true,
			CertificateAuthorityData: []byte("pem"), ProxyURL: "http://p", DisableCompression: true,
			Config: runtime.RawExtension{Raw: []byte(`{"a":1}`)},
		}},
	}
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRequest(string(b))
	if want := (Request{APIVersion: V1, Interactive: true, ClusterServer: "https://proxy:6443"}); err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	if _, err := ParseRequest(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":{"server":"s","certificate-authority-data":"not base64!"}}}`); err == nil {
		t.Error("malformed certificate-authority-data accepted (client-go refuses it)")
	}
}

// FuzzParseRequestMatchesClientGo holds ParseRequest against client-go's
// ExecCredential types: for a request of a supported version, it succeeds
// exactly when client-go's types decode the value, with the same
// interactive flag and cluster server.
func FuzzParseRequestMatchesClientGo(f *testing.F) {
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true,"cluster":{"server":"https://p:6443","certificate-authority-data":"cGVt","config":{"a":1}}}}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false},"status":{"expirationTimestamp":"2030-01-02T03:04:05Z","token":"t"}}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"expirationTimestamp":"not a time"}}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":null,"interactive":"yes"}}`)
	f.Fuzz(func(t *testing.T, value string) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if json.Unmarshal([]byte(value), &head) != nil || head.Kind != kind {
			return
		}
		var interactive bool
		var server string
		var refErr error
		switch head.APIVersion {
		case V1:
			var c clientauthv1.ExecCredential
			if refErr = json.Unmarshal([]byte(value), &c); refErr == nil {
				interactive = c.Spec.Interactive
				if c.Spec.Cluster != nil {
					server = c.Spec.Cluster.Server
				}
			}
		case V1beta1:
			var c clientauthv1beta1.ExecCredential
			if refErr = json.Unmarshal([]byte(value), &c); refErr == nil {
				interactive = c.Spec.Interactive
				if c.Spec.Cluster != nil {
					server = c.Spec.Cluster.Server
				}
			}
		default:
			return
		}
		got, err := ParseRequest(value)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("ParseRequest error %v, client-go's types %v", err, refErr)
		}
		if err == nil && (got.Interactive != interactive || got.ClusterServer != server) {
			t.Fatalf("ParseRequest %+v, client-go's types interactive=%v server=%q", got, interactive, server)
		}
	})
}
