# A Rack app: the platform starts it with puma (Debian's, from the stack).
run lambda { |env|
  [200, { "Content-Type" => "text/plain" }, ["Hello from Rack on #{ENV["DYNO"]}\n"]]
}
