package sessionjwt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Delegated authorization (flask_tinyauth, one of the systems this gateway replaces): before a request
// goes on, a tinyauth service is asked whether its caller may do an action on a resource, as
// authorize_or_401('GetApple', 'apples', name) does in each endpoint. tinyauth identifies the caller
// itself, from the client's headers (its session cookie, or an access key in Authorization: Basic), so
// the question carries them; the gateway proves who is asking with its own access key.

// authorizer is one middleware's authorize block, checked in New.
type authorizer struct {
	url        string // {endpoint}api/v1/services/{service}/authorize-by-token
	basic      string // the gateway's Authorization: Basic value
	arnBase    string // arn:<partition>:<service>:<region>::
	timeout    time.Duration
	client     *http.Client
	rules      []authorizeRule
	action     string          // for requests no rule matches; "": those are not permitted
	fixedARN   string          // its resource
	headers    []string        // canonical names of the client headers sent; nil: all
	sendJWT    bool            // sendAuthorization jwt: headerName as the backend gets it, not the client's
	keyExclude map[string]bool // what decisionKey leaves out of the client's headers: headerName under sendJWT
	jwtHeader  string          // headerName, canonical
	identity   string          // canonical identityHeader; "": not forwarded
	failOpen   bool            // failure unauthorized: an unreachable service answers as a refusal
	bypass     bool            // everything is authorized, nothing asked (development)
	decisions  *decisionCache  // nil: every request asks
	name       string          // the middleware, for log lines
	lastOutage int64           // Unix nanoseconds of the last outage line (atomic), to keep the log readable
}

// Values of authorize.sendAuthorization.
const (
	sendClientAuthorization = "client" // the client's headers as it sent them
	sendJWTAuthorization    = "jwt"    // with headerName holding the JWT the gateway forwards
)

// The failure value that treats an unreachable service as a refusal (policyReject answers 503).
const failureUnauthorized = "unauthorized"

// authorizeRule is one of authorize.rules: methods (nil: any) and a path pattern pick the action, and
// the resource is built from the pattern's parameters.
type authorizeRule struct {
	methods  map[string]bool
	segments []pathSegment
	action   string
	resource []resourcePart
}

// pathSegment is one segment of a rule's path: a literal, a {name} matching one non-empty segment, or a
// final {name...} matching the rest of the path (one or more segments).
type pathSegment struct {
	literal string
	param   string
	rest    bool
}

// resourcePart is literal text of a resource or a path parameter's value.
type resourcePart struct {
	literal string
	param   string
}

// Answers of delegated authorization.
var (
	bodyNotPermitted     = []byte(`{"error":"not_permitted"}` + "\n")
	bodyInvalidPath      = []byte(`{"error":"invalid_path"}` + "\n")
	bodyAuthzUnavailable = []byte(`{"error":"authorization service unavailable"}` + "\n")
)

// newAuthorizer validates the authorize block; nil when it is off (no endpoint, no bypass).
func newAuthorizer(c *AuthorizeConfig, jwtHeader, name string) (*authorizer, error) {
	identity := ""
	if c.IdentityHeader != "" {
		if !isToken(c.IdentityHeader) {
			return nil, fmt.Errorf("authorize.identityHeader %q is not a valid header name", c.IdentityHeader)
		}
		identity = http.CanonicalHeaderKey(c.IdentityHeader)
	}
	if c.Bypass {
		// Loud on purpose: a configuration that reaches production with this lets everyone in. The
		// identity header is still deleted from requests: nobody vouched for a client's copy.
		logf("middleware %s: WARNING: authorize.bypass is on: every request is authorized without asking tinyauth "+
			"(for development only)", name)
		return &authorizer{bypass: true, identity: identity, name: name}, nil
	}
	if c.Endpoint == "" {
		if c.Service != "" || c.AccessKeyID != "" || c.Action != "" || len(c.Rules) > 0 {
			return nil, errors.New("authorize.endpoint is required to authorize requests (e.g. \"https://tinyauth.example.com/\")")
		}
		return nil, nil
	}
	a := &authorizer{name: name, jwtHeader: jwtHeader, identity: identity}
	u, err := url.Parse(c.Endpoint)
	if err != nil || !isServiceAddress(u) || u.RawQuery != "" {
		// Not echoed: it may hold credentials.
		return nil, errors.New("authorize.endpoint is not an http(s) URL without credentials, query or fragment (e.g. \"https://tinyauth.example.com/\")")
	}
	if !isARNWord(c.Service) {
		return nil, fmt.Errorf("authorize.service %q must be a short name of letters, digits, - and _ (the service in tinyauth's ARNs)", c.Service)
	}
	if !isARNWord(c.Partition) || !isARNWord(c.Region) {
		return nil, fmt.Errorf("authorize.partition %q and authorize.region %q must be names of letters, digits, - and _", c.Partition, c.Region)
	}
	a.url = strings.TrimSuffix(c.Endpoint, "/") + "/api/v1/services/" + c.Service + "/authorize-by-token"
	a.arnBase = "arn:" + c.Partition + ":" + c.Service + ":" + c.Region + "::"
	secret := c.SecretAccessKey
	if c.SecretAccessKeyFile != "" {
		if secret != "" {
			return nil, errors.New("set authorize.secretAccessKey or authorize.secretAccessKeyFile, not both")
		}
		if secret, err = readSecretFile(c.SecretAccessKeyFile, "authorize.secretAccessKeyFile"); err != nil {
			return nil, err
		}
	}
	if c.AccessKeyID == "" || strings.Contains(c.AccessKeyID, ":") || !headerSafe(c.AccessKeyID) || secret == "" {
		return nil, errors.New("authorize.accessKeyId (without \":\") and authorize.secretAccessKey or secretAccessKeyFile are required: the gateway's tinyauth access key")
	}
	a.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.AccessKeyID+":"+secret))
	if a.timeout, err = positiveDuration("authorize.timeout", c.Timeout, "1s"); err != nil {
		return nil, err
	}
	if a.client, err = authorizeClient(c.CAFile, u.Scheme); err != nil {
		return nil, err
	}
	if err := setAuthorizeMapping(a, c); err != nil {
		return nil, err
	}
	for i, h := range c.Headers {
		if !isToken(h) {
			return nil, fmt.Errorf("authorize.headers[%d] %q is not a header name", i, h)
		}
		a.headers = append(a.headers, http.CanonicalHeaderKey(h))
	}
	switch c.SendAuthorization {
	case sendClientAuthorization:
	case sendJWTAuthorization:
		a.sendJWT = true
		a.keyExclude = map[string]bool{jwtHeader: true}
	default:
		return nil, fmt.Errorf("authorize.sendAuthorization %q is not one of client, jwt", c.SendAuthorization)
	}
	switch c.Failure {
	case policyReject:
	case failureUnauthorized:
		a.failOpen = true
	default:
		return nil, fmt.Errorf("authorize.failure %q is not one of reject, unauthorized", c.Failure)
	}
	ttl, err := time.ParseDuration(c.CacheTTL)
	if err != nil || ttl < 0 {
		return nil, fmt.Errorf("authorize.cacheTTL %q is not a Go duration of at least 0 (\"0s\": no cache)", c.CacheTTL)
	}
	if ttl > 0 {
		if c.CacheSize < 1 {
			return nil, fmt.Errorf("authorize.cacheSize %d must be at least 1", c.CacheSize)
		}
		a.decisions = &decisionCache{ttl: int64(ttl), size: c.CacheSize, entries: map[string]decision{}}
	}
	return a, nil
}

// setAuthorizeMapping validates how requests map to actions and resources: the rules, then the fixed
// action and resource for requests no rule matches.
func setAuthorizeMapping(a *authorizer, c *AuthorizeConfig) error {
	if c.Action == "" && len(c.Rules) == 0 {
		return errors.New("authorize needs an action (e.g. \"AccessWebInterface\") or rules mapping requests to actions")
	}
	for i, r := range c.Rules {
		rule, err := newAuthorizeRule(r, fmt.Sprintf("authorize.rules[%d]", i))
		if err != nil {
			return err
		}
		a.rules = append(a.rules, rule)
	}
	if c.Action == "" {
		if c.Resource != "" {
			return errors.New("authorize.resource needs authorize.action")
		}
		return nil
	}
	if !isActionName(c.Action) {
		return fmt.Errorf("authorize.action %q is not a bare action name of letters and digits (e.g. \"AccessWebInterface\")", c.Action)
	}
	resource, err := parseResource(c.Resource, nil, "authorize.resource")
	if err != nil {
		return err
	}
	a.action = c.Action
	a.fixedARN = a.arnBase + buildResource(resource, nil)
	return nil
}

func newAuthorizeRule(r AuthorizeRule, key string) (authorizeRule, error) {
	var rule authorizeRule
	if !isActionName(r.Action) {
		return rule, fmt.Errorf("%s.action %q is not a bare action name of letters and digits (e.g. \"GetApple\")", key, r.Action)
	}
	rule.action = r.Action
	for _, m := range r.Methods {
		if !isToken(m) || strings.ToUpper(m) != m {
			return rule, fmt.Errorf("%s.methods: %q is not an HTTP method in capitals (e.g. GET)", key, m)
		}
		if rule.methods == nil {
			rule.methods = map[string]bool{}
		}
		rule.methods[m] = true
	}
	p := r.Path
	if strings.ContainsAny(p, "?*") || !isCanonicalPath(p) {
		return rule, fmt.Errorf("%s.path %q is not a clean absolute path (e.g. \"/api/v1/apples/{name}\")", key, p)
	}
	params := map[string]bool{}
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		seg := pathSegment{literal: part}
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			name := part[1 : len(part)-1]
			if strings.HasSuffix(name, "...") {
				name = strings.TrimSuffix(name, "...")
				if i != len(parts)-1 {
					return rule, fmt.Errorf("%s.path %q: {%s...} must be the last segment", key, p, name)
				}
				seg.rest = true
			}
			if !isParamName(name) || params[name] {
				return rule, fmt.Errorf("%s.path %q: parameter {%s} must be a unique name of letters, digits and _", key, p, name)
			}
			params[name] = true
			seg = pathSegment{param: name, rest: seg.rest}
		} else if strings.ContainsAny(part, "{}") {
			return rule, fmt.Errorf("%s.path %q: a parameter is a whole segment, {name} or {name...}", key, p)
		}
		rule.segments = append(rule.segments, seg)
	}
	resource, err := parseResource(r.Resource, params, key+".resource")
	if err != nil {
		return rule, err
	}
	rule.resource = resource
	return rule, nil
}

// parseResource reads a resource: "" (the service itself), "type" or "type/id" where id may name path
// parameters ({name}), as flask_tinyauth's authorize_or_401(action, type, id) builds it.
func parseResource(s string, params map[string]bool, key string) ([]resourcePart, error) {
	if s == "" {
		return nil, nil
	}
	kind, id, hasID := strings.Cut(s, "/")
	if !isARNWord(kind) {
		return nil, fmt.Errorf("%s %q: the resource type %q must be a name of letters, digits, - and _ (e.g. \"apples/{name}\")", key, s, kind)
	}
	parts := []resourcePart{{literal: kind + "/"}}
	if !hasID {
		return parts, nil
	}
	for id != "" {
		open := strings.IndexByte(id, '{')
		if open < 0 {
			parts = append(parts, resourcePart{literal: id})
			break
		}
		end := strings.IndexByte(id, '}')
		if end < open {
			return nil, fmt.Errorf("%s %q: unbalanced braces", key, s)
		}
		if open > 0 {
			parts = append(parts, resourcePart{literal: id[:open]})
		}
		name := id[open+1 : end]
		if !params[name] {
			return nil, fmt.Errorf("%s %q: {%s} is not a parameter of the rule's path", key, s, name)
		}
		parts = append(parts, resourcePart{param: name})
		id = id[end+1:]
	}
	if strings.ContainsAny(s, controlChars+"\"") {
		return nil, fmt.Errorf("%s %q: control characters and quotes are not allowed", key, s)
	}
	return parts, nil
}

func isARNWord(s string) bool {
	return s != "" && len(s) <= 64 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

func isActionName(s string) bool {
	return s != "" && len(s) <= 128 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

func isParamName(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == ""
}

// authorizeClients are the HTTP clients of the authorize blocks, by trusted CA, shared by middlewares
// and reloads so that a reload does not leave a client with open connections behind.
var (
	authorizeClientsMu sync.Mutex
	authorizeClients   = map[string]*http.Client{}
)

// authorizeClient returns the client trusting caFile (the system roots when empty). It never follows a
// redirect: the gateway's access key goes to the endpoint and nowhere else.
func authorizeClient(caFile, scheme string) (*http.Client, error) {
	key := ""
	var roots *x509.CertPool
	if caFile != "" {
		if scheme != "https" {
			return nil, errors.New("authorize.caFile is set but authorize.endpoint is not https://")
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("authorize.caFile: %v", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, errors.New("authorize.caFile holds no PEM certificate")
		}
		sum := sha256.Sum256(pem)
		key = hex.EncodeToString(sum[:])
	}
	authorizeClientsMu.Lock()
	defer authorizeClientsMu.Unlock()
	if c := authorizeClients[key]; c != nil {
		return c, nil
	}
	transport := &http.Transport{
		Proxy:               nil, // the endpoint is asked directly, whatever HTTP_PROXY says
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
	}
	c := &http.Client{
		Transport:     transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error { return http.ErrUseLastResponse },
	}
	authorizeClients[key] = c
	return c, nil
}

// authorizeRequest asks whether the caller of req may go on (s: its session or token, nil when
// unauthenticated), and answers the request itself when not. It reports whether the request may be
// forwarded; the identity header is then set. It and the functions it calls on a decision cache hit are
// kept short: under Yaegi a call pays for every expression in the called function (docs/yaegi.md).
func authorizeRequest(a *authorizer, g *gate, rw http.ResponseWriter, req *http.Request, s *session) bool {
	if a.bypass || exempt(g, req) {
		return true
	}
	var d decision
	if a.rules != nil {
		d = decideByRules(a, req, s)
	} else {
		d = askTinyauth(a, req, s, a.action, a.fixedARN)
	}
	if d.verdict != verdictAllowed {
		answerRefusal(a, g, rw, req, d.verdict)
		return false
	}
	if a.identity != "" {
		setIdentity(req.Header, a.identity, d.identity)
	}
	return true
}

func decideByRules(a *authorizer, req *http.Request, s *session) decision {
	action, arn, verdict := requestPermission(a, req)
	if verdict != verdictAllowed {
		return decision{verdict: verdict}
	}
	return askTinyauth(a, req, s, action, arn)
}

// setIdentity puts tinyauth's name for the caller in the identity header (whose client copies were
// deleted on entry); a value that is not a plain header value is left out.
func setIdentity(h http.Header, name, identity string) {
	delete(h, name)
	if headerSafe(identity) {
		h[name] = []string{identity}
	}
}

// answerRefusal answers a request tinyauth (or the rules) did not allow.
func answerRefusal(a *authorizer, g *gate, rw http.ResponseWriter, req *http.Request, verdict int) {
	switch verdict {
	case verdictInvalidPath:
		writeError(rw, http.StatusBadRequest, bodyInvalidPath)
	case verdictNotPermitted:
		writeError(rw, http.StatusForbidden, bodyNotPermitted)
	case verdictUnauthenticated:
		refuse(g, rw, req)
	default: // verdictFailed
		if a.failOpen {
			refuse(g, rw, req)
		} else {
			writeError(rw, http.StatusServiceUnavailable, bodyAuthzUnavailable)
		}
	}
}

// requestPermission is the action and resource ARN req needs under the rules: the first rule matching its
// method and path, else the fixed action. A path with more than one reading (see publicPaths.match)
// picks no rule and is refused (verdictInvalidPath), so that no spelling of a path is judged by another's
// rule. A request nothing maps is not permitted.
func requestPermission(a *authorizer, req *http.Request) (string, string, int) {
	p := req.URL.Path
	if req.URL.RawPath != "" || !isCanonicalPath(p) {
		return "", "", verdictInvalidPath
	}
	segments := strings.Split(p[1:], "/")
	for i := range a.rules {
		r := &a.rules[i]
		if r.methods != nil && !r.methods[req.Method] {
			continue
		}
		if values, ok := matchSegments(r.segments, segments); ok {
			return r.action, a.arnBase + buildResource(r.resource, values), verdictAllowed
		}
	}
	if a.action == "" {
		return "", "", verdictNotPermitted
	}
	return a.action, a.fixedARN, verdictAllowed
}

// matchSegments matches a path's segments against a rule's, returning the parameters' values.
func matchSegments(pattern []pathSegment, segments []string) (map[string]string, bool) {
	var values map[string]string
	for i, seg := range pattern {
		if i >= len(segments) {
			return nil, false
		}
		if seg.param == "" {
			if segments[i] != seg.literal {
				return nil, false
			}
			continue
		}
		value := segments[i]
		if seg.rest {
			value = strings.Join(segments[i:], "/")
		}
		if value == "" || strings.HasSuffix(value, "/") {
			return nil, false
		}
		if values == nil {
			values = map[string]string{}
		}
		values[seg.param] = value
		if seg.rest {
			return values, true
		}
	}
	return values, len(pattern) == len(segments)
}

func buildResource(parts []resourcePart, values map[string]string) string {
	var b strings.Builder
	for _, p := range parts {
		if p.param != "" {
			b.WriteString(values[p.param])
		} else {
			b.WriteString(p.literal)
		}
	}
	return b.String()
}

// A decision of tinyauth about one caller, action and resource.
type decision struct {
	verdict  int
	identity string
	expires  int64 // in the decision cache
}

const (
	verdictFailed          = iota // no usable answer: the failure policy decides
	verdictAllowed                // Authorized: true
	verdictNotPermitted           // a known caller without the permission (or a request no rule maps): 403
	verdictUnauthenticated        // tinyauth does not know the caller: 401 (or the login page)
	verdictInvalidPath            // a path with more than one reading, under rules: 400
)

// maxAuthorizeKey bounds what the decision cache keys on (a question bigger than this is not cached).
const maxAuthorizeKey = 16 << 10

// askTinyauth asks the decision cache, then the service, about action on arn for req's caller.
func askTinyauth(a *authorizer, req *http.Request, s *session, action, arn string) decision {
	c := a.decisions
	if c == nil {
		return askService(a, req, s, action, arn, "")
	}
	key := decisionKey(a, req, s, action, arn)
	now := time.Now().UnixNano()
	c.mu.Lock()
	d, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now < d.expires {
		return d
	}
	return askService(a, req, s, action, arn, key)
}

// askService posts the question, and remembers the decision under key when there is a decision cache.
func askService(a *authorizer, req *http.Request, s *session, action, arn, key string) decision {
	now := time.Now()
	d := callTinyauth(a, req.Context(), question(a, req, s, action, arn, now))
	if key != "" && d.verdict != verdictFailed && len(key) <= maxAuthorizeKey {
		storeDecision(a.decisions, key, d, now.UnixNano())
	}
	return d
}

// clientIP is the address the request came from (Traefik's connection to the client).
func clientIP(req *http.Request) string {
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return ip
}

// question is the body of authorize-by-token: exactly permit, headers and context.
func question(a *authorizer, req *http.Request, s *session, action, arn string, now time.Time) []byte {
	ip := clientIP(req)
	pairs := [][]string{}
	for _, name := range sentHeaderNames(a, req, s) {
		for _, v := range sentHeaderValues(a, req, s, name) {
			pairs = append(pairs, []string{name, v})
		}
	}
	permit, _ := json.Marshal(map[string][]string{action: []string{arn}})
	headers, _ := json.Marshal(pairs)
	facts, _ := json.Marshal(map[string]string{"SourceIp": ip, "RequestDateTime": now.UTC().Format("2006-01-02T15:04:05Z")})
	var body bytes.Buffer
	body.WriteString(`{"permit":`)
	body.Write(permit)
	body.WriteString(`,"headers":`)
	body.Write(headers)
	body.WriteString(`,"context":`)
	body.Write(facts)
	body.WriteString(`}`)
	return body.Bytes()
}

// decisionKey is everything a question holds but its time, in one compiled call where it can (a cache
// hit should cost little under Yaegi): the action, the resource, the client's address and the headers
// sent, as http.Header.Write spells them (sorted; values cannot hold CR or LF, so nothing is ambiguous).
func decisionKey(a *authorizer, req *http.Request, s *session, action, arn string) string {
	ip := req.RemoteAddr
	if i := strings.LastIndexByte(ip, ':'); i >= 0 {
		ip = ip[:i]
	}
	var b strings.Builder
	b.WriteString(action + "\x00" + arn + "\x00" + ip + "\x00")
	if a.headers != nil {
		for _, name := range a.headers {
			b.WriteString(name + ": " + strings.Join(sentHeaderValues(a, req, s, name), "\x01") + "\r\n")
		}
		return b.String()
	}
	req.Header.WriteSubset(&b, a.keyExclude)
	if a.sendJWT && s != nil {
		b.WriteString(a.jwtHeader + ": " + s.authorization + "\r\n")
	}
	return b.String()
}

// sentHeaderNames are the names of the client headers tinyauth identifies the caller from, in order:
// authorize.headers, or all of them. With sendAuthorization jwt, headerName is among them when the
// request has a JWT to send.
func sentHeaderNames(a *authorizer, req *http.Request, s *session) []string {
	if a.headers != nil {
		return a.headers
	}
	names := make([]string, 0, len(req.Header)+1)
	for name := range req.Header {
		names = append(names, name)
	}
	if a.sendJWT && s != nil && req.Header[a.jwtHeader] == nil {
		names = append(names, a.jwtHeader)
	}
	sort.Strings(names)
	return names
}

// sentHeaderValues are the values of one header as tinyauth gets them: the client's, except headerName
// under sendAuthorization jwt, which holds the JWT the backend gets (none without a session or token).
func sentHeaderValues(a *authorizer, req *http.Request, s *session, name string) []string {
	if a.sendJWT && name == a.jwtHeader {
		if s == nil {
			return nil
		}
		return []string{s.authorization}
	}
	return req.Header[name]
}

// callTinyauth posts one question and reads the answer. Only HTTP 200 with the documented JSON is a
// decision about the caller; tinyauth's 401 and 403 refuse the gateway's own access key (a configuration
// fault, logged as such), and anything else is the service failing.
func callTinyauth(a *authorizer, parent context.Context, body []byte) decision {
	ctx, cancel := context.WithTimeout(parent, a.timeout)
	defer cancel()
	call, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		logOutage(a, "%v", err)
		return decision{}
	}
	// Nothing of the client's goes in these headers: tinyauth would take its cookies for the gateway's.
	call.Header.Set("Authorization", a.basic)
	call.Header.Set("Content-Type", "application/json")
	call.Header.Set("Accept", "application/json")
	res, err := a.client.Do(call)
	if err != nil {
		logOutage(a, "unreachable: %v", urlErrorCause(err))
		return decision{}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		logOutage(a, "reading the answer: %v", err)
		return decision{}
	}
	var answer map[string]interface{}
	if json.Unmarshal(raw, &answer) != nil || answer == nil {
		logOutage(a, "HTTP %d without the documented JSON", res.StatusCode)
		return decision{}
	}
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		// Loud, every time: nobody gets through until the gateway's access key is fixed.
		logf("middleware %s: tinyauth refused the gateway's own access key (HTTP %d): check authorize.accessKeyId, "+
			"authorize.secretAccessKey and the key's permission to authorize for this service", a.name, res.StatusCode)
		return decision{}
	}
	authorized, ok := answer["Authorized"].(bool)
	if res.StatusCode != http.StatusOK || !ok {
		logOutage(a, "HTTP %d without the documented JSON", res.StatusCode)
		return decision{}
	}
	if authorized {
		identity, _ := answer["Identity"].(string)
		return decision{verdict: verdictAllowed, identity: identity}
	}
	if code, _ := answer["ErrorCode"].(string); code == "NotPermitted" {
		return decision{verdict: verdictNotPermitted}
	}
	return decision{verdict: verdictUnauthenticated}
}

// logOutage logs that tinyauth could not answer, at most one line per 10 s per middleware.
func logOutage(a *authorizer, format string, args ...interface{}) {
	now := time.Now().UnixNano()
	last := atomic.LoadInt64(&a.lastOutage)
	if now-last < int64(10*time.Second) || !atomic.CompareAndSwapInt64(&a.lastOutage, last, now) {
		return
	}
	logf("middleware %s: authorization service failed (requests get authorize.failure): "+format,
		append([]interface{}{a.name}, args...)...)
}

// decisionCache remembers tinyauth's decisions for a short while, keyed by everything a question holds
// but its time: the action and resource, the caller's headers as sent, and the client's address.
type decisionCache struct {
	mu      sync.Mutex
	ttl     int64
	size    int
	entries map[string]decision
}

func storeDecision(c *decisionCache, key string, d decision, now int64) {
	d.expires = now + c.ttl
	c.mu.Lock()
	if len(c.entries) >= c.size {
		for k, e := range c.entries {
			if now >= e.expires {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.size {
			c.entries = map[string]decision{}
		}
	}
	c.entries[key] = d
	c.mu.Unlock()
}
