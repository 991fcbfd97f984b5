package sessionjwt

import (
	"fmt"
	"net/http"
	"strings"
)

// Servers in the CGI tradition (WSGI, Rack, PHP, and Puma before CVE-2024-45614) hand headers to the
// application as HTTP_X_USER_ID, reading "-" and "_" alike: to them a client's "X_User_Id" is the
// "X-User-Id" the gateway sets. Go's server canonicalizes every header name it receives ("x_user-id"
// becomes "X_user-Id"), so all such spellings of a header are known in advance: one per choice of "-" or
// "_" at each separator. They are computed once in New and deleted from every request with one map
// deletion each, rather than scanning the request's headers in the interpreter.

// maxHeaderSeparators bounds the spellings of one header name at 2^6.
const maxHeaderSeparators = 6

// headerSpellings returns every canonical header name a CGI-style server reads as name, name's own
// canonical form included.
func headerSpellings(key, name string) ([]string, error) {
	parts := strings.Split(strings.ReplaceAll(name, "_", "-"), "-")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%s %q: a header name must not start or end with, or double, '-' or '_'", key, name)
		}
	}
	if len(parts)-1 > maxHeaderSeparators {
		return nil, fmt.Errorf("%s %q has more than %d '-' or '_' in it", key, name, maxHeaderSeparators)
	}
	var out []string
	for mask := 0; mask < 1<<(len(parts)-1); mask++ {
		var b strings.Builder
		b.WriteString(parts[0])
		for i, p := range parts[1:] {
			if mask&(1<<i) != 0 {
				b.WriteByte('_')
			} else {
				b.WriteByte('-')
			}
			b.WriteString(p)
		}
		out = append(out, http.CanonicalHeaderKey(b.String()))
	}
	return out, nil
}

// spoofableHeaders lists what ServeHTTP deletes from every request: every spelling of each claim header
// and of authorize.identityHeader, and every spelling of headerName but its canonical one, which the
// unauthenticated policy and the swap deal with. nil when there is nothing to delete (headerName
// Authorization, no claim headers, no identity header).
func spoofableHeaders(header string, claimHeaders []claimHeader, identityHeader string) ([]string, error) {
	var out []string
	spellings, err := headerSpellings("headerName", header)
	if err != nil {
		return nil, err
	}
	for _, s := range spellings {
		if s != header {
			out = append(out, s)
		}
	}
	for _, ch := range claimHeaders {
		spellings, err := headerSpellings("claimHeaders "+ch.claim, ch.header)
		if err != nil {
			return nil, err
		}
		out = append(out, spellings...)
	}
	if identityHeader != "" {
		spellings, err := headerSpellings("authorize.identityHeader", identityHeader)
		if err != nil {
			return nil, err
		}
		out = append(out, spellings...)
	}
	return out, nil
}

// cgiName is the name a CGI-style server gives a header: two names with the same cgiName are one header.
func cgiName(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// deleteHeaders deletes each of names (canonical) from h.
func deleteHeaders(h http.Header, names []string) {
	for _, name := range names {
		delete(h, name)
	}
}
