// Refuses an unsupported Node.js with one clear line, before `npm start`, `npm test` or the bench run on it.
// (npm install refuses it too: .npmrc sets engine-strict.)
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `This project needs Node.js 22.13 or newer (22 LTS or 24 LTS, the Lambda runtime); this is ${process.version}. ` +
      'Install Node.js 24 (https://nodejs.org, or your version manager: nvm install 24), then run npm install again.\n',
  );
  process.exit(1);
}
