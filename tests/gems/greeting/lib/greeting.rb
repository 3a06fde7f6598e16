module Greeting
  VERSION = "1.0.0"

  def self.hello(name)
    "Hello from #{name}, greeting #{VERSION} from vendor/cache"
  end
end
