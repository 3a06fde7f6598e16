require "greeting"
require "wordcount"

run lambda { |env|
  sentence = Greeting.hello(ENV.fetch("DYNO", "?"))
  body = "#{sentence}\nwords: #{Wordcount.count(sentence)} (native: #{Wordcount::NATIVE})\n"
  [200, { "content-type" => "text/plain" }, [body]]
}
