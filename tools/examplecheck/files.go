package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The keys of the plugin's configuration that name files, and what each file must hold for New.
var fileKeys = map[string]string{
	"secretKeyFile":             "secret",
	"redisPasswordFile":         "secret",
	"redisSentinelPasswordFile": "secret",
	"redisCAFile":               "certificate",
	"hmacSecretFile":            "secret", // under jwt
	"publicKeyFiles":            "certificate",
	"secretAccessKeyFile":       "secret", // under authorize
	"caFile":                    "certificate",
}

// withFiles returns a copy of conf whose file keys name files in dir holding what each key needs: the
// examples name paths in the user's container, which this machine does not have.
func withFiles(conf map[string]any, dir string) (map[string]any, error) {
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if err := rewriteFiles(out, dir); err != nil {
		return nil, err
	}
	for _, block := range []string{"jwt", "authorize"} {
		if nested, ok := out[block].(map[string]any); ok {
			if err := rewriteFiles(nested, dir); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func rewriteFiles(conf map[string]any, dir string) error {
	for key, kind := range fileKeys {
		switch v := conf[key].(type) {
		case string: // a path, or (labels) a comma-separated list of them
			var paths []string
			for _, p := range strings.Split(v, ",") {
				f, err := exampleFile(dir, p, kind)
				if err != nil {
					return err
				}
				paths = append(paths, f)
			}
			conf[key] = strings.Join(paths, ",")
		case []any:
			for i, p := range v {
				f, err := exampleFile(dir, fmt.Sprint(p), kind)
				if err != nil {
					return err
				}
				v[i] = f
			}
		}
	}
	return nil
}

// exampleFile writes the stand-in for the example's path p, once per path.
func exampleFile(dir, p, kind string) (string, error) {
	name := filepath.Join(dir, strings.NewReplacer("/", "_", "\\", "_").Replace(strings.TrimSpace(p)))
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	content := []byte("examplecheck-secret-" + strings.Repeat("x", 32) + "\n")
	if kind == "certificate" {
		var err error
		if content, err = selfSignedPEM(); err != nil {
			return "", err
		}
	}
	return name, os.WriteFile(name, content, 0o600)
}

func selfSignedPEM() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "examplecheck"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// writeE2EDynamic writes the readme's file-form middlewares for the e2e Traefik, each behind the router
// readme-<name> (PathPrefix /readme/<name>/) to the e2e configuration's backend service.
func writeE2EDynamic(file string, mws []namedPlugin, dir string) error {
	routers := map[string]any{}
	middlewares := map[string]any{}
	for _, mw := range mws {
		routers["readme-"+mw.name] = map[string]any{
			"rule":        "PathPrefix(`/readme/" + mw.name + "/`)",
			"service":     "backend",
			"middlewares": []string{mw.name},
		}
		middlewares[mw.name] = map[string]any{"plugin": map[string]any{"sessionjwt": mw.conf}}
	}
	out, err := yamlOf(map[string]any{"http": map[string]any{"routers": routers, "middlewares": middlewares}})
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, 0o600)
}
