package sessionjwt

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// publicPaths holds the publicPaths key: exact paths and prefixes (entries ending in "/*", kept with their
// trailing slash).
type publicPaths struct {
	exact    map[string]bool
	prefixes []string
}

// notCanonical are characters after which a path has more than one reading: ";" starts path parameters
// that some servers drop ("/public/..;/admin"), "%" is left over from double encoding, "\" is a slash to
// some servers, "#" and control characters have no business in a path. Such a path is never public.
const notCanonical = ";%\\#" + controlChars

func newPublicPaths(entries []string) (publicPaths, error) {
	p := publicPaths{exact: map[string]bool{}}
	for i, e := range entries {
		prefix := strings.HasSuffix(e, "/*")
		clean := e
		if prefix {
			clean = strings.TrimSuffix(e, "*")
		}
		if strings.ContainsAny(clean, "*?") || !isCanonicalPath(clean) {
			return p, fmt.Errorf("publicPaths[%d] %q is not a clean absolute path, optionally ending in /* "+
				"(e.g. \"/health\", \"/static/*\")", i, e)
		}
		if prefix {
			p.prefixes = append(p.prefixes, clean)
		} else {
			p.exact[clean] = true
		}
	}
	return p, nil
}

// match reports whether the request path p (decoded, without the query) is public. It must be public read
// as it is and read cleaned the way a backend might (".." resolved, "//" collapsed), so that no spelling of
// a protected path matches a public entry.
func (p publicPaths) match(raw string) bool {
	if raw == "" || strings.ContainsAny(raw, notCanonical) {
		return false
	}
	clean := cleanPath(raw)
	if strings.HasSuffix(raw, "/") && clean != "/" {
		clean += "/"
	}
	return p.matchOne(raw) && p.matchOne(clean)
}

func (p publicPaths) matchOne(s string) bool {
	if p.exact[s] {
		return true
	}
	for _, prefix := range p.prefixes {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// isCanonicalPath reports an absolute path with one reading: nothing after which servers differ
// (notCanonical), and equal to itself cleaned (but for a trailing slash).
func isCanonicalPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, notCanonical) &&
		(cleanPath(p) == p || cleanPath(p)+"/" == p)
}

func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p)
}

// isPreflight reports a CORS preflight, which browsers send without credentials.
func isPreflight(req *http.Request) bool {
	return req.Method == http.MethodOptions && req.Header.Get("Origin") != "" &&
		req.Header.Get("Access-Control-Request-Method") != ""
}

// isNavigation reports whether a browser is loading a page, as opposed to a script's fetch, an API client
// or a websocket: only navigations may be redirected to a login page.
func isNavigation(req *http.Request) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if req.Header.Get("Upgrade") != "" {
		return false
	}
	mode, dest := req.Header.Get("Sec-Fetch-Mode"), req.Header.Get("Sec-Fetch-Dest")
	if mode != "" || dest != "" {
		return mode == "navigate" || dest == "document"
	}
	return acceptPrefersHTML(req.Header.Get("Accept"))
}

// acceptPrefersHTML reports whether an Accept header ranks text/html at least as high as every other
// concrete media type. Wildcards do not count: "*/*" is what scripts and API clients send.
func acceptPrefersHTML(accept string) bool {
	html, other := 0.0, 0.0
	for _, part := range strings.Split(accept, ",") {
		media, params, _ := strings.Cut(part, ";")
		media = strings.ToLower(strings.TrimSpace(media))
		q := 1.0
		for _, param := range strings.Split(params, ";") {
			name, value, _ := strings.Cut(param, "=")
			if strings.TrimSpace(name) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
					q = f
				}
			}
		}
		if media == "text/html" || media == "application/xhtml+xml" {
			if q > html {
				html = q
			}
		} else if !strings.HasSuffix(media, "/*") && q > other {
			other = q
		}
	}
	return html > 0 && html >= other
}

// returnPath is where the login page should send the browser back to: the request's path and query as a
// same-origin relative reference. Leading slashes and backslashes collapse to one slash, as "//host" and
// "/\host" would be read by browsers as another host.
func returnPath(req *http.Request) string {
	p := "/" + strings.TrimLeft(req.URL.EscapedPath(), "/\\")
	if req.URL.RawQuery != "" {
		p += "?" + req.URL.RawQuery
	}
	return p
}

// parseLoginURL accepts an absolute http(s) URL or an absolute path on the same host.
func parseLoginURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	bad := err != nil || u.Fragment != "" || u.User != nil || !headerSafe(s) || strings.Contains(s, "\\")
	if !bad && u.IsAbs() {
		bad = !isServiceAddress(u)
	} else if !bad {
		bad = u.Host != "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//")
	}
	if bad {
		return nil, fmt.Errorf("loginURL %q is not an absolute http(s) URL or a path starting with / "+
			"(e.g. \"/login\", \"https://auth.example.com/login\")", s)
	}
	return u, nil
}

// loginLocation is loginURL with the return path added to its query.
func loginLocation(login *url.URL, param string, req *http.Request) string {
	u := *login
	q := u.Query()
	q.Set(param, returnPath(req))
	u.RawQuery = q.Encode()
	return u.String()
}
