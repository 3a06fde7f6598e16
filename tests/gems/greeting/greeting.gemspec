Gem::Specification.new do |spec|
  spec.name = "greeting"
  spec.version = "1.0.0"
  spec.summary = "A pure-Ruby gem for the vendor/cache end-to-end test"
  spec.authors = ["paas"]
  spec.license = "MIT"
  spec.files = ["lib/greeting.rb"]
end
