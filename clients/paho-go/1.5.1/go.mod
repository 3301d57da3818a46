// paho.mqtt.golang 1.5.1 for clients/paho-go/hold.go, built in module mode by clients/setup.sh
// (the library from the Go module proxy, every module checked against go.sum).
module mosquitto-matrix/clients/paho-go

go 1.24.0

require github.com/eclipse/paho.mqtt.golang v1.5.1

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/net v0.44.0 // indirect
	golang.org/x/sync v0.17.0 // indirect
)
