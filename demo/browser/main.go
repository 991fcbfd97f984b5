// Command browser clicks through the demo in headless Chromium, driven by chromedriver over the W3C
// WebDriver protocol (plain HTTP and JSON): sign-in page, sign in, the page with what the backend got,
// the API called with fetch() (200, then 403 for the admin scope), a screenshot of the signed-in page,
// sign out, and the page sends the browser to the sign-in page again. Each step is checked; any failure
// exits 1 with what the browser showed. scripts/demo.sh --check (make test) runs it.
//
//	browser [-base http://127.0.0.1:8000] [-screenshot FILE]
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8000", "the demo's Traefik")
	screenshot := flag.String("screenshot", "", "write a PNG of the signed-in page here")
	chromium := flag.String("chromium", "/usr/bin/chromium", "the browser")
	chromedriver := flag.String("chromedriver", "/usr/bin/chromedriver", "its WebDriver")
	flag.Parse()
	if err := run(*base, *screenshot, *chromium, *chromedriver); err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		os.Exit(1)
	}
}

func run(base, screenshot, chromium, chromedriver string) error {
	profile, err := os.MkdirTemp("", "sessionjwt-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	port, err := freePort()
	if err != nil {
		return err
	}
	driver := exec.Command(chromedriver, fmt.Sprintf("--port=%d", port))
	if err := driver.Start(); err != nil {
		return fmt.Errorf("chromedriver: %v (make test installs chromium-driver)", err)
	}
	defer driver.Process.Kill()
	wd := &webDriver{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for i := 0; ; i++ {
		if _, err := wd.call(http.MethodGet, "/status", nil); err == nil {
			break
		} else if i == 100 {
			return fmt.Errorf("chromedriver did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{"binary": chromium, "args": []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--user-data-dir=" + profile, "--window-size=1100,1300"}},
	}}}
	v, err := wd.call(http.MethodPost, "/session", caps)
	if err != nil {
		return fmt.Errorf("starting Chromium: %v", err)
	}
	var session struct {
		SessionID string `json:"sessionId"`
	}
	json.Unmarshal(v, &session)
	wd.session = "/session/" + session.SessionID
	defer wd.call(http.MethodDelete, wd.session, nil)

	steps := []struct {
		name string
		do   func(wd *webDriver, base string) error
	}{
		{"a page without a session goes to the sign-in page", pageGoesToLogin},
		{"the public page needs no session", publicPage},
		{"signing in comes back to the page, which shows the JWT the backend got", signIn},
		{"the session cookie is HttpOnly", cookieIsHttpOnly},
		{"fetch() of the API gets the backend's answer", callAPI},
		{"fetch() of the admin API is refused for the scope", callAdmin},
	}
	for _, s := range steps {
		if err := s.do(wd, base); err != nil {
			return fmt.Errorf("%s: %v", s.name, err)
		}
		fmt.Println("browser: ok:", s.name)
	}
	if screenshot != "" {
		if err := wd.screenshot(screenshot); err != nil {
			return err
		}
		fmt.Println("browser: screenshot of the signed-in page:", screenshot)
	}
	after := []struct {
		name string
		do   func(wd *webDriver, base string) error
	}{
		{"signing out lands on the sign-in page", signOut},
		{"after signing out the page goes to the sign-in page at once", pageGoesToLogin},
		{"after signing out fetch() of the API gets 401 JSON", apiRefusedAfterLogout},
	}
	for _, s := range after {
		if err := s.do(wd, base); err != nil {
			return fmt.Errorf("%s: %v", s.name, err)
		}
		fmt.Println("browser: ok:", s.name)
	}
	return nil
}

func pageGoesToLogin(wd *webDriver, base string) error {
	if err := wd.navigate(base + "/app/orders"); err != nil {
		return err
	}
	return wd.waitURL(base+"/login?next=%2Fapp%2Forders", "the sign-in page")
}

func publicPage(wd *webDriver, base string) error {
	if err := wd.navigate(base + "/app/public/"); err != nil {
		return err
	}
	text, err := wd.text("#who")
	if err != nil || !strings.Contains(text, "Not signed in") {
		return fmt.Errorf("the page says %q (%v)", text, err)
	}
	return nil
}

func signIn(wd *webDriver, base string) error {
	if err := wd.navigate(base + "/app/orders"); err != nil {
		return err
	}
	if err := wd.waitURL(base+"/login?next=%2Fapp%2Forders", "the sign-in page"); err != nil {
		return err
	}
	if err := wd.typeInto("#username", "alice"); err != nil {
		return err
	}
	if err := wd.click("#signin"); err != nil {
		return err
	}
	if err := wd.waitURL(base+"/app/orders", "the page"); err != nil {
		return err
	}
	who, err := wd.text("#who")
	if err != nil || !strings.HasPrefix(who, "Signed in as alice") {
		return fmt.Errorf("the page says %q (%v)", who, err)
	}
	received, err := wd.text("#received")
	if err != nil || !strings.Contains(received, "Authorization: Bearer ey") || strings.Contains(received, "session_uuid") {
		return fmt.Errorf("the backend got %q (%v), want the JWT and not the session cookie (removeSessionCookie)", received, err)
	}
	return nil
}

func cookieIsHttpOnly(wd *webDriver, base string) error {
	v, err := wd.script("return document.cookie", nil)
	if err != nil {
		return err
	}
	if strings.Contains(string(v), "session_uuid") {
		return fmt.Errorf("scripts can read the session cookie: %s", v)
	}
	return nil
}

func callAPI(wd *webDriver, base string) error {
	return clickAndWait(wd, "#call-api", "200", "demo backend got GET /api/orders")
}

func callAdmin(wd *webDriver, base string) error {
	return clickAndWait(wd, "#call-admin", "403", `"error":"insufficient_scope"`)
}

func clickAndWait(wd *webDriver, button, status, want string) error {
	if err := wd.click(button); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		text, err := wd.text("#api-result")
		if err == nil && strings.HasPrefix(text, status+" ") && strings.Contains(text, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the page shows %q (%v), want %s with %s", text, err, status, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func signOut(wd *webDriver, base string) error {
	if err := wd.click("#logout"); err != nil {
		return err
	}
	return wd.waitURL(base+"/login", "the sign-in page")
}

func apiRefusedAfterLogout(wd *webDriver, base string) error {
	v, err := wd.asyncScript(`const done = arguments[arguments.length - 1];
fetch("/api/orders", {headers: {"Accept": "application/json"}}).then(r => r.text().then(t => done(r.status + " " + t)));`)
	if err != nil {
		return err
	}
	var got string
	json.Unmarshal(v, &got)
	if strings.TrimSpace(got) != `401 {"error":"unauthenticated"}` {
		return fmt.Errorf("fetch got %q", got)
	}
	return nil
}

// webDriver is a W3C WebDriver client of the few commands the steps use.
type webDriver struct {
	url     string
	session string // "/session/<id>"
}

var client = &http.Client{Timeout: 30 * time.Second}

// call sends one command and returns its "value".
func (wd *webDriver) call(method, path string, body any) (json.RawMessage, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.url+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, out.Value)
	}
	return out.Value, nil
}

func (wd *webDriver) navigate(url string) error {
	_, err := wd.call(http.MethodPost, wd.session+"/url", map[string]string{"url": url})
	return err
}

func (wd *webDriver) currentURL() string {
	v, _ := wd.call(http.MethodGet, wd.session+"/url", nil)
	var u string
	json.Unmarshal(v, &u)
	return u
}

func (wd *webDriver) waitURL(want, what string) error {
	deadline := time.Now().Add(5 * time.Second)
	for wd.currentURL() != want {
		if time.Now().After(deadline) {
			text, _ := wd.text("body")
			return fmt.Errorf("the browser is at %s, not %s (%s); it shows %q", wd.currentURL(), want, what, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func (wd *webDriver) element(css string) (string, error) {
	v, err := wd.call(http.MethodPost, wd.session+"/element", map[string]string{"using": "css selector", "value": css})
	if err != nil {
		return "", err
	}
	var e map[string]string
	json.Unmarshal(v, &e)
	for _, id := range e { // the one key is the W3C element identifier
		return wd.session + "/element/" + id, nil
	}
	return "", fmt.Errorf("no element %s", css)
}

func (wd *webDriver) text(css string) (string, error) {
	e, err := wd.element(css)
	if err != nil {
		return "", err
	}
	v, err := wd.call(http.MethodGet, e+"/text", nil)
	var s string
	json.Unmarshal(v, &s)
	return s, err
}

func (wd *webDriver) click(css string) error {
	e, err := wd.element(css)
	if err != nil {
		return err
	}
	_, err = wd.call(http.MethodPost, e+"/click", map[string]any{})
	return err
}

func (wd *webDriver) typeInto(css, text string) error {
	e, err := wd.element(css)
	if err != nil {
		return err
	}
	_, err = wd.call(http.MethodPost, e+"/value", map[string]string{"text": text})
	return err
}

func (wd *webDriver) script(js string, args []any) (json.RawMessage, error) {
	if args == nil {
		args = []any{}
	}
	return wd.call(http.MethodPost, wd.session+"/execute/sync", map[string]any{"script": js, "args": args})
}

func (wd *webDriver) asyncScript(js string) (json.RawMessage, error) {
	return wd.call(http.MethodPost, wd.session+"/execute/async", map[string]any{"script": js, "args": []any{}})
}

func (wd *webDriver) screenshot(file string) error {
	v, err := wd.call(http.MethodGet, wd.session+"/screenshot", nil)
	if err != nil {
		return err
	}
	var b64 string
	json.Unmarshal(v, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return err
	}
	return os.WriteFile(file, png, 0o644)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
