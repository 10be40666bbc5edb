/**
 * Galata in Debian's Chromium (/usr/bin/chromium; Playwright's browser download
 * does not work here).  scripts/test-ui.sh starts JupyterLab on 127.0.0.1 and
 * stops it by PID; run alone, Playwright starts it through `webServer`.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.NB2PIPE_UI_PORT || '8899';

module.exports = {
  ...baseConfig,
  timeout: 120000,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 1400, height: 860 },
    video: 'off',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: 'jupyter lab --config jupyter_server_test_config.py',
    url: `http://127.0.0.1:${port}/lab`,
    timeout: 120000,
    reuseExistingServer: true
  }
};
