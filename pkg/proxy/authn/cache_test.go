package authn

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

func TestCacheKeyIsSHA256OfToken(t *testing.T) {
	for _, token := range []string{"", "a", "header.payload.signature", strings.Repeat("x", 4096)} {
		if got, want := cacheKey(token), sha256.Sum256([]byte(token)); got != want {
			t.Errorf("cacheKey(%d bytes) = %x, want %x", len(token), got, want)
		}
	}
}

func TestCopyResponseIsIndependentOfTheCachedOne(t *testing.T) {
	groupSets := map[string][]string{"none": nil, "empty": {}}
	for _, n := range []int{1, inlineGroups, inlineGroups + 1} {
		g := make([]string, n)
		for i := range g {
			g[i] = fmt.Sprintf("group-%d", i)
		}
		groupSets[fmt.Sprint(n)] = g
	}
	for name, groups := range groupSets {
		t.Run(name, func(t *testing.T) {
			orig := &authenticator.Response{
				Audiences: authenticator.Audiences{"aud"},
				User: &user.DefaultInfo{Name: "alice", UID: "u1", Groups: slices.Clone(groups),
					Extra: map[string][]string{"k": {"v"}}},
			}
			c := copyResponse(orig)
			if c.User.GetName() != "alice" || c.User.GetUID() != "u1" || !slices.Equal(c.User.GetGroups(), groups) ||
				(groups == nil) != (c.User.GetGroups() == nil) || !slices.Equal(c.Audiences, orig.Audiences) ||
				!slices.Equal(c.User.GetExtra()["k"], []string{"v"}) {
				t.Fatalf("copy differs: %+v %+v", c, c.User)
			}
			info := c.User.(*user.DefaultInfo)
			for i := range info.Groups {
				info.Groups[i] = "changed"
			}
			info.Groups = append(info.Groups, "system:authenticated")
			info.Extra["k"][0] = "changed"
			info.Extra["new"] = []string{"x"}
			c.Audiences[0] = "changed"
			if !slices.Equal(orig.User.GetGroups(), groups) || !slices.Equal(orig.User.GetExtra()["k"], []string{"v"}) ||
				len(orig.User.GetExtra()) != 1 || orig.Audiences[0] != "aud" {
				t.Errorf("changing the copy changed the original: %+v %+v", orig, orig.User)
			}
			if again := copyResponse(orig); !slices.Equal(again.User.GetGroups(), groups) {
				t.Errorf("a second copy has groups %q, want %q", again.User.GetGroups(), groups)
			}
		})
	}
}
