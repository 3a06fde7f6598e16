module paas.example/gohello

go 1.19
