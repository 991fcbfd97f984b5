module github.com/sessionjwt/sessionjwt/e2e

go 1.22

require github.com/gorilla/websocket v1.5.3

require gopkg.in/yaml.v3 v3.0.1
