// paho.golang 0.23.0 for clients/paho-golang/hold.go, built in module mode by clients/setup.sh
// (the modules from the Go module proxy, every one checked against go.sum).
module mosquitto-matrix/clients/paho-golang

go 1.24.0

require github.com/eclipse/paho.golang v0.23.0

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/net v0.43.0 // indirect
)
