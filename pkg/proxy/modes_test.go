package proxy

import "testing"

func TestModeOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" valid
	}{
		{"defaults", nil, ""},
		{"extras with disable-impersonation", []string{"--disable-impersonation", "--extra-user-headers=a=b"}, "need impersonation"},
		{"audiences without passthrough", []string{"--token-passthrough-audiences=x"}, "needs --token-passthrough"},
		{"reserved extra key", []string{"--extra-user-headers=originaluser.jetstack.io-user=x"}, "reserved prefix"},
		{"bad CIDR", []string{"--trusted-proxy-cidrs=10.0.0.0/33"}, "--trusted-proxy-cidrs"},
		{"bad extra", []string{"--extra-user-headers=novalue"}, "is not key=value"},
		{"upper-case extra key", []string{"--extra-user-headers=Tenant=x"}, `extra key "Tenant" is not lower case`},
		{"padded extra value", []string{"--extra-user-headers=tenant= x"}, `extra value of "tenant" " x" starts with white space`},
		{"upper-case original-user prefix", []string{"--impersonation-original-user-extra-prefix=Orig-"}, "is not lower case"},
		{"audit log format", []string{"--audit-log-path=/tmp/x.log", "--audit-log-format=xml"}, "invalid audit log format xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewModeOptions()
			fs := pflagSet(o)
			err := fs.Parse(tt.args)
			if err == nil {
				if errs := o.Validate(); len(errs) > 0 {
					err = errs[0]
					for _, e := range errs[1:] {
						err = joinErr(err, e)
					}
				}
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
