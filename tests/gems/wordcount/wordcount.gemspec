Gem::Specification.new do |spec|
  spec.name = "wordcount"
  spec.version = "0.1.0"
  spec.summary = "A gem with a C extension for the vendor/cache end-to-end test"
  spec.authors = ["paas"]
  spec.license = "MIT"
  spec.files = ["lib/wordcount.rb", "ext/wordcount/extconf.rb", "ext/wordcount/wordcount.c"]
  spec.extensions = ["ext/wordcount/extconf.rb"]
end
