require_relative "boot"

require "rails"
require "action_controller/railtie"
require "action_view/railtie"
require "sprockets/railtie"

Bundler.require(*Rails.groups)

module Hello
  class Application < Rails::Application
    config.load_defaults 6.1
    config.eager_load = true
  end
end
