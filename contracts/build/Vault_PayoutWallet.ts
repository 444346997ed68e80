import {
    Cell,
    Slice,
    Address,
    Builder,
    beginCell,
    ComputeError,
    TupleItem,
    TupleReader,
    Dictionary,
    contractAddress,
    address,
    ContractProvider,
    Sender,
    Contract,
    ContractABI,
    ABIType,
    ABIGetter,
    ABIReceiver,
    TupleBuilder,
    DictionaryValue
} from '@ton/core';

export type DataSize = {
    $$type: 'DataSize';
    cells: bigint;
    bits: bigint;
    refs: bigint;
}

export function storeDataSize(src: DataSize) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.cells, 257);
        b_0.storeInt(src.bits, 257);
        b_0.storeInt(src.refs, 257);
    };
}

export function loadDataSize(slice: Slice) {
    const sc_0 = slice;
    const _cells = sc_0.loadIntBig(257);
    const _bits = sc_0.loadIntBig(257);
    const _refs = sc_0.loadIntBig(257);
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function loadGetterTupleDataSize(source: TupleReader) {
    const _cells = source.readBigNumber();
    const _bits = source.readBigNumber();
    const _refs = source.readBigNumber();
    return { $$type: 'DataSize' as const, cells: _cells, bits: _bits, refs: _refs };
}

export function storeTupleDataSize(source: DataSize) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.cells);
    builder.writeNumber(source.bits);
    builder.writeNumber(source.refs);
    return builder.build();
}

export function dictValueParserDataSize(): DictionaryValue<DataSize> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDataSize(src)).endCell());
        },
        parse: (src) => {
            return loadDataSize(src.loadRef().beginParse());
        }
    }
}

export type SignedBundle = {
    $$type: 'SignedBundle';
    signature: Buffer;
    signedData: Slice;
}

export function storeSignedBundle(src: SignedBundle) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBuffer(src.signature);
        b_0.storeBuilder(src.signedData.asBuilder());
    };
}

export function loadSignedBundle(slice: Slice) {
    const sc_0 = slice;
    const _signature = sc_0.loadBuffer(64);
    const _signedData = sc_0;
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function loadGetterTupleSignedBundle(source: TupleReader) {
    const _signature = source.readBuffer();
    const _signedData = source.readCell().asSlice();
    return { $$type: 'SignedBundle' as const, signature: _signature, signedData: _signedData };
}

export function storeTupleSignedBundle(source: SignedBundle) {
    const builder = new TupleBuilder();
    builder.writeBuffer(source.signature);
    builder.writeSlice(source.signedData.asCell());
    return builder.build();
}

export function dictValueParserSignedBundle(): DictionaryValue<SignedBundle> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSignedBundle(src)).endCell());
        },
        parse: (src) => {
            return loadSignedBundle(src.loadRef().beginParse());
        }
    }
}

export type StateInit = {
    $$type: 'StateInit';
    code: Cell;
    data: Cell;
}

export function storeStateInit(src: StateInit) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeRef(src.code);
        b_0.storeRef(src.data);
    };
}

export function loadStateInit(slice: Slice) {
    const sc_0 = slice;
    const _code = sc_0.loadRef();
    const _data = sc_0.loadRef();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function loadGetterTupleStateInit(source: TupleReader) {
    const _code = source.readCell();
    const _data = source.readCell();
    return { $$type: 'StateInit' as const, code: _code, data: _data };
}

export function storeTupleStateInit(source: StateInit) {
    const builder = new TupleBuilder();
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    return builder.build();
}

export function dictValueParserStateInit(): DictionaryValue<StateInit> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStateInit(src)).endCell());
        },
        parse: (src) => {
            return loadStateInit(src.loadRef().beginParse());
        }
    }
}

export type Context = {
    $$type: 'Context';
    bounceable: boolean;
    sender: Address;
    value: bigint;
    raw: Slice;
}

export function storeContext(src: Context) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeBit(src.bounceable);
        b_0.storeAddress(src.sender);
        b_0.storeInt(src.value, 257);
        b_0.storeRef(src.raw.asCell());
    };
}

export function loadContext(slice: Slice) {
    const sc_0 = slice;
    const _bounceable = sc_0.loadBit();
    const _sender = sc_0.loadAddress();
    const _value = sc_0.loadIntBig(257);
    const _raw = sc_0.loadRef().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function loadGetterTupleContext(source: TupleReader) {
    const _bounceable = source.readBoolean();
    const _sender = source.readAddress();
    const _value = source.readBigNumber();
    const _raw = source.readCell().asSlice();
    return { $$type: 'Context' as const, bounceable: _bounceable, sender: _sender, value: _value, raw: _raw };
}

export function storeTupleContext(source: Context) {
    const builder = new TupleBuilder();
    builder.writeBoolean(source.bounceable);
    builder.writeAddress(source.sender);
    builder.writeNumber(source.value);
    builder.writeSlice(source.raw.asCell());
    return builder.build();
}

export function dictValueParserContext(): DictionaryValue<Context> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeContext(src)).endCell());
        },
        parse: (src) => {
            return loadContext(src.loadRef().beginParse());
        }
    }
}

export type SendParameters = {
    $$type: 'SendParameters';
    mode: bigint;
    body: Cell | null;
    code: Cell | null;
    data: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeSendParameters(src: SendParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        if (src.code !== null && src.code !== undefined) { b_0.storeBit(true).storeRef(src.code); } else { b_0.storeBit(false); }
        if (src.data !== null && src.data !== undefined) { b_0.storeBit(true).storeRef(src.data); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadSendParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _code = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _data = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleSendParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _code = source.readCellOpt();
    const _data = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'SendParameters' as const, mode: _mode, body: _body, code: _code, data: _data, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleSendParameters(source: SendParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeCell(source.code);
    builder.writeCell(source.data);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserSendParameters(): DictionaryValue<SendParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSendParameters(src)).endCell());
        },
        parse: (src) => {
            return loadSendParameters(src.loadRef().beginParse());
        }
    }
}

export type MessageParameters = {
    $$type: 'MessageParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    to: Address;
    bounce: boolean;
}

export function storeMessageParameters(src: MessageParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeAddress(src.to);
        b_0.storeBit(src.bounce);
    };
}

export function loadMessageParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _to = sc_0.loadAddress();
    const _bounce = sc_0.loadBit();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function loadGetterTupleMessageParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _to = source.readAddress();
    const _bounce = source.readBoolean();
    return { $$type: 'MessageParameters' as const, mode: _mode, body: _body, value: _value, to: _to, bounce: _bounce };
}

export function storeTupleMessageParameters(source: MessageParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeAddress(source.to);
    builder.writeBoolean(source.bounce);
    return builder.build();
}

export function dictValueParserMessageParameters(): DictionaryValue<MessageParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeMessageParameters(src)).endCell());
        },
        parse: (src) => {
            return loadMessageParameters(src.loadRef().beginParse());
        }
    }
}

export type DeployParameters = {
    $$type: 'DeployParameters';
    mode: bigint;
    body: Cell | null;
    value: bigint;
    bounce: boolean;
    init: StateInit;
}

export function storeDeployParameters(src: DeployParameters) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.mode, 257);
        if (src.body !== null && src.body !== undefined) { b_0.storeBit(true).storeRef(src.body); } else { b_0.storeBit(false); }
        b_0.storeInt(src.value, 257);
        b_0.storeBit(src.bounce);
        b_0.store(storeStateInit(src.init));
    };
}

export function loadDeployParameters(slice: Slice) {
    const sc_0 = slice;
    const _mode = sc_0.loadIntBig(257);
    const _body = sc_0.loadBit() ? sc_0.loadRef() : null;
    const _value = sc_0.loadIntBig(257);
    const _bounce = sc_0.loadBit();
    const _init = loadStateInit(sc_0);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function loadGetterTupleDeployParameters(source: TupleReader) {
    const _mode = source.readBigNumber();
    const _body = source.readCellOpt();
    const _value = source.readBigNumber();
    const _bounce = source.readBoolean();
    const _init = loadGetterTupleStateInit(source);
    return { $$type: 'DeployParameters' as const, mode: _mode, body: _body, value: _value, bounce: _bounce, init: _init };
}

export function storeTupleDeployParameters(source: DeployParameters) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.mode);
    builder.writeCell(source.body);
    builder.writeNumber(source.value);
    builder.writeBoolean(source.bounce);
    builder.writeTuple(storeTupleStateInit(source.init));
    return builder.build();
}

export function dictValueParserDeployParameters(): DictionaryValue<DeployParameters> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDeployParameters(src)).endCell());
        },
        parse: (src) => {
            return loadDeployParameters(src.loadRef().beginParse());
        }
    }
}

export type StdAddress = {
    $$type: 'StdAddress';
    workchain: bigint;
    address: bigint;
}

export function storeStdAddress(src: StdAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 8);
        b_0.storeUint(src.address, 256);
    };
}

export function loadStdAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(8);
    const _address = sc_0.loadUintBig(256);
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleStdAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readBigNumber();
    return { $$type: 'StdAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleStdAddress(source: StdAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeNumber(source.address);
    return builder.build();
}

export function dictValueParserStdAddress(): DictionaryValue<StdAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeStdAddress(src)).endCell());
        },
        parse: (src) => {
            return loadStdAddress(src.loadRef().beginParse());
        }
    }
}

export type VarAddress = {
    $$type: 'VarAddress';
    workchain: bigint;
    address: Slice;
}

export function storeVarAddress(src: VarAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeInt(src.workchain, 32);
        b_0.storeRef(src.address.asCell());
    };
}

export function loadVarAddress(slice: Slice) {
    const sc_0 = slice;
    const _workchain = sc_0.loadIntBig(32);
    const _address = sc_0.loadRef().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function loadGetterTupleVarAddress(source: TupleReader) {
    const _workchain = source.readBigNumber();
    const _address = source.readCell().asSlice();
    return { $$type: 'VarAddress' as const, workchain: _workchain, address: _address };
}

export function storeTupleVarAddress(source: VarAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.workchain);
    builder.writeSlice(source.address.asCell());
    return builder.build();
}

export function dictValueParserVarAddress(): DictionaryValue<VarAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeVarAddress(src)).endCell());
        },
        parse: (src) => {
            return loadVarAddress(src.loadRef().beginParse());
        }
    }
}

export type BasechainAddress = {
    $$type: 'BasechainAddress';
    hash: bigint | null;
}

export function storeBasechainAddress(src: BasechainAddress) {
    return (builder: Builder) => {
        const b_0 = builder;
        if (src.hash !== null && src.hash !== undefined) { b_0.storeBit(true).storeInt(src.hash, 257); } else { b_0.storeBit(false); }
    };
}

export function loadBasechainAddress(slice: Slice) {
    const sc_0 = slice;
    const _hash = sc_0.loadBit() ? sc_0.loadIntBig(257) : null;
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function loadGetterTupleBasechainAddress(source: TupleReader) {
    const _hash = source.readBigNumberOpt();
    return { $$type: 'BasechainAddress' as const, hash: _hash };
}

export function storeTupleBasechainAddress(source: BasechainAddress) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.hash);
    return builder.build();
}

export function dictValueParserBasechainAddress(): DictionaryValue<BasechainAddress> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeBasechainAddress(src)).endCell());
        },
        parse: (src) => {
            return loadBasechainAddress(src.loadRef().beginParse());
        }
    }
}

export type Deposit = {
    $$type: 'Deposit';
    account: bigint;
}

export function storeDeposit(src: Deposit) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196801, 32);
        b_0.storeUint(src.account, 256);
    };
}

export function loadDeposit(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196801) { throw Error('Invalid prefix'); }
    const _account = sc_0.loadUintBig(256);
    return { $$type: 'Deposit' as const, account: _account };
}

export function loadTupleDeposit(source: TupleReader) {
    const _account = source.readBigNumber();
    return { $$type: 'Deposit' as const, account: _account };
}

export function loadGetterTupleDeposit(source: TupleReader) {
    const _account = source.readBigNumber();
    return { $$type: 'Deposit' as const, account: _account };
}

export function storeTupleDeposit(source: Deposit) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.account);
    return builder.build();
}

export function dictValueParserDeposit(): DictionaryValue<Deposit> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDeposit(src)).endCell());
        },
        parse: (src) => {
            return loadDeposit(src.loadRef().beginParse());
        }
    }
}

export type Withdraw = {
    $$type: 'Withdraw';
    account: bigint;
    amount: bigint;
    to: Address;
    seqno: bigint;
    expiry: bigint;
    signature: Buffer;
}

export function storeWithdraw(src: Withdraw) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196802, 32);
        b_0.storeUint(src.account, 256);
        b_0.storeCoins(src.amount);
        b_0.storeAddress(src.to);
        b_0.storeUint(src.seqno, 32);
        b_0.storeUint(src.expiry, 32);
        const b_1 = new Builder();
        b_1.storeBuffer(src.signature);
        b_0.storeRef(b_1.endCell());
    };
}

export function loadWithdraw(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196802) { throw Error('Invalid prefix'); }
    const _account = sc_0.loadUintBig(256);
    const _amount = sc_0.loadCoins();
    const _to = sc_0.loadAddress();
    const _seqno = sc_0.loadUintBig(32);
    const _expiry = sc_0.loadUintBig(32);
    const sc_1 = sc_0.loadRef().beginParse();
    const _signature = sc_1.loadBuffer(64);
    return { $$type: 'Withdraw' as const, account: _account, amount: _amount, to: _to, seqno: _seqno, expiry: _expiry, signature: _signature };
}

export function loadTupleWithdraw(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    const _to = source.readAddress();
    const _seqno = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Withdraw' as const, account: _account, amount: _amount, to: _to, seqno: _seqno, expiry: _expiry, signature: _signature };
}

export function loadGetterTupleWithdraw(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    const _to = source.readAddress();
    const _seqno = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Withdraw' as const, account: _account, amount: _amount, to: _to, seqno: _seqno, expiry: _expiry, signature: _signature };
}

export function storeTupleWithdraw(source: Withdraw) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.account);
    builder.writeNumber(source.amount);
    builder.writeAddress(source.to);
    builder.writeNumber(source.seqno);
    builder.writeNumber(source.expiry);
    builder.writeBuffer(source.signature);
    return builder.build();
}

export function dictValueParserWithdraw(): DictionaryValue<Withdraw> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeWithdraw(src)).endCell());
        },
        parse: (src) => {
            return loadWithdraw(src.loadRef().beginParse());
        }
    }
}

export type Redeem = {
    $$type: 'Redeem';
    payee: bigint;
    to: Address;
    cumulative: bigint;
    expiry: bigint;
    signature: Buffer;
}

export function storeRedeem(src: Redeem) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196803, 32);
        b_0.storeUint(src.payee, 256);
        b_0.storeAddress(src.to);
        b_0.storeCoins(src.cumulative);
        b_0.storeUint(src.expiry, 32);
        const b_1 = new Builder();
        b_1.storeBuffer(src.signature);
        b_0.storeRef(b_1.endCell());
    };
}

export function loadRedeem(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196803) { throw Error('Invalid prefix'); }
    const _payee = sc_0.loadUintBig(256);
    const _to = sc_0.loadAddress();
    const _cumulative = sc_0.loadCoins();
    const _expiry = sc_0.loadUintBig(32);
    const sc_1 = sc_0.loadRef().beginParse();
    const _signature = sc_1.loadBuffer(64);
    return { $$type: 'Redeem' as const, payee: _payee, to: _to, cumulative: _cumulative, expiry: _expiry, signature: _signature };
}

export function loadTupleRedeem(source: TupleReader) {
    const _payee = source.readBigNumber();
    const _to = source.readAddress();
    const _cumulative = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Redeem' as const, payee: _payee, to: _to, cumulative: _cumulative, expiry: _expiry, signature: _signature };
}

export function loadGetterTupleRedeem(source: TupleReader) {
    const _payee = source.readBigNumber();
    const _to = source.readAddress();
    const _cumulative = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _signature = source.readBuffer();
    return { $$type: 'Redeem' as const, payee: _payee, to: _to, cumulative: _cumulative, expiry: _expiry, signature: _signature };
}

export function storeTupleRedeem(source: Redeem) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.payee);
    builder.writeAddress(source.to);
    builder.writeNumber(source.cumulative);
    builder.writeNumber(source.expiry);
    builder.writeBuffer(source.signature);
    return builder.build();
}

export function dictValueParserRedeem(): DictionaryValue<Redeem> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeRedeem(src)).endCell());
        },
        parse: (src) => {
            return loadRedeem(src.loadRef().beginParse());
        }
    }
}

export type SetCoordinatorKey = {
    $$type: 'SetCoordinatorKey';
    key: bigint;
}

export function storeSetCoordinatorKey(src: SetCoordinatorKey) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196804, 32);
        b_0.storeUint(src.key, 256);
    };
}

export function loadSetCoordinatorKey(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196804) { throw Error('Invalid prefix'); }
    const _key = sc_0.loadUintBig(256);
    return { $$type: 'SetCoordinatorKey' as const, key: _key };
}

export function loadTupleSetCoordinatorKey(source: TupleReader) {
    const _key = source.readBigNumber();
    return { $$type: 'SetCoordinatorKey' as const, key: _key };
}

export function loadGetterTupleSetCoordinatorKey(source: TupleReader) {
    const _key = source.readBigNumber();
    return { $$type: 'SetCoordinatorKey' as const, key: _key };
}

export function storeTupleSetCoordinatorKey(source: SetCoordinatorKey) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.key);
    return builder.build();
}

export function dictValueParserSetCoordinatorKey(): DictionaryValue<SetCoordinatorKey> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeSetCoordinatorKey(src)).endCell());
        },
        parse: (src) => {
            return loadSetCoordinatorKey(src.loadRef().beginParse());
        }
    }
}

export type DepositCredited = {
    $$type: 'DepositCredited';
    account: bigint;
    amount: bigint;
}

export function storeDepositCredited(src: DepositCredited) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196929, 32);
        b_0.storeUint(src.account, 256);
        b_0.storeCoins(src.amount);
    };
}

export function loadDepositCredited(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196929) { throw Error('Invalid prefix'); }
    const _account = sc_0.loadUintBig(256);
    const _amount = sc_0.loadCoins();
    return { $$type: 'DepositCredited' as const, account: _account, amount: _amount };
}

export function loadTupleDepositCredited(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'DepositCredited' as const, account: _account, amount: _amount };
}

export function loadGetterTupleDepositCredited(source: TupleReader) {
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'DepositCredited' as const, account: _account, amount: _amount };
}

export function storeTupleDepositCredited(source: DepositCredited) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.account);
    builder.writeNumber(source.amount);
    return builder.build();
}

export function dictValueParserDepositCredited(): DictionaryValue<DepositCredited> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDepositCredited(src)).endCell());
        },
        parse: (src) => {
            return loadDepositCredited(src.loadRef().beginParse());
        }
    }
}

export type CreditAccount = {
    $$type: 'CreditAccount';
    queryId: bigint;
    amount: bigint;
}

export function storeCreditAccount(src: CreditAccount) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196817, 32);
        b_0.storeUint(src.queryId, 64);
        b_0.storeCoins(src.amount);
    };
}

export function loadCreditAccount(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196817) { throw Error('Invalid prefix'); }
    const _queryId = sc_0.loadUintBig(64);
    const _amount = sc_0.loadCoins();
    return { $$type: 'CreditAccount' as const, queryId: _queryId, amount: _amount };
}

export function loadTupleCreditAccount(source: TupleReader) {
    const _queryId = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'CreditAccount' as const, queryId: _queryId, amount: _amount };
}

export function loadGetterTupleCreditAccount(source: TupleReader) {
    const _queryId = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'CreditAccount' as const, queryId: _queryId, amount: _amount };
}

export function storeTupleCreditAccount(source: CreditAccount) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.queryId);
    builder.writeNumber(source.amount);
    return builder.build();
}

export function dictValueParserCreditAccount(): DictionaryValue<CreditAccount> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeCreditAccount(src)).endCell());
        },
        parse: (src) => {
            return loadCreditAccount(src.loadRef().beginParse());
        }
    }
}

export type AccountCredited = {
    $$type: 'AccountCredited';
    queryId: bigint;
    account: bigint;
    amount: bigint;
}

export function storeAccountCredited(src: AccountCredited) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196818, 32);
        b_0.storeUint(src.queryId, 64);
        b_0.storeUint(src.account, 256);
        b_0.storeCoins(src.amount);
    };
}

export function loadAccountCredited(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196818) { throw Error('Invalid prefix'); }
    const _queryId = sc_0.loadUintBig(64);
    const _account = sc_0.loadUintBig(256);
    const _amount = sc_0.loadCoins();
    return { $$type: 'AccountCredited' as const, queryId: _queryId, account: _account, amount: _amount };
}

export function loadTupleAccountCredited(source: TupleReader) {
    const _queryId = source.readBigNumber();
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'AccountCredited' as const, queryId: _queryId, account: _account, amount: _amount };
}

export function loadGetterTupleAccountCredited(source: TupleReader) {
    const _queryId = source.readBigNumber();
    const _account = source.readBigNumber();
    const _amount = source.readBigNumber();
    return { $$type: 'AccountCredited' as const, queryId: _queryId, account: _account, amount: _amount };
}

export function storeTupleAccountCredited(source: AccountCredited) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.queryId);
    builder.writeNumber(source.account);
    builder.writeNumber(source.amount);
    return builder.build();
}

export function dictValueParserAccountCredited(): DictionaryValue<AccountCredited> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeAccountCredited(src)).endCell());
        },
        parse: (src) => {
            return loadAccountCredited(src.loadRef().beginParse());
        }
    }
}

export type Debit = {
    $$type: 'Debit';
    amount: bigint;
    seqno: bigint;
    expiry: bigint;
    to: Address;
}

export function storeDebit(src: Debit) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196819, 32);
        b_0.storeCoins(src.amount);
        b_0.storeUint(src.seqno, 32);
        b_0.storeUint(src.expiry, 32);
        b_0.storeAddress(src.to);
    };
}

export function loadDebit(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196819) { throw Error('Invalid prefix'); }
    const _amount = sc_0.loadCoins();
    const _seqno = sc_0.loadUintBig(32);
    const _expiry = sc_0.loadUintBig(32);
    const _to = sc_0.loadAddress();
    return { $$type: 'Debit' as const, amount: _amount, seqno: _seqno, expiry: _expiry, to: _to };
}

export function loadTupleDebit(source: TupleReader) {
    const _amount = source.readBigNumber();
    const _seqno = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _to = source.readAddress();
    return { $$type: 'Debit' as const, amount: _amount, seqno: _seqno, expiry: _expiry, to: _to };
}

export function loadGetterTupleDebit(source: TupleReader) {
    const _amount = source.readBigNumber();
    const _seqno = source.readBigNumber();
    const _expiry = source.readBigNumber();
    const _to = source.readAddress();
    return { $$type: 'Debit' as const, amount: _amount, seqno: _seqno, expiry: _expiry, to: _to };
}

export function storeTupleDebit(source: Debit) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.amount);
    builder.writeNumber(source.seqno);
    builder.writeNumber(source.expiry);
    builder.writeAddress(source.to);
    return builder.build();
}

export function dictValueParserDebit(): DictionaryValue<Debit> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDebit(src)).endCell());
        },
        parse: (src) => {
            return loadDebit(src.loadRef().beginParse());
        }
    }
}

export type DebitApproved = {
    $$type: 'DebitApproved';
    amount: bigint;
    seqno: bigint;
    account: bigint;
    to: Address;
    expiry: bigint;
}

export function storeDebitApproved(src: DebitApproved) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196820, 32);
        b_0.storeCoins(src.amount);
        b_0.storeUint(src.seqno, 32);
        b_0.storeUint(src.account, 256);
        b_0.storeAddress(src.to);
        b_0.storeUint(src.expiry, 32);
    };
}

export function loadDebitApproved(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196820) { throw Error('Invalid prefix'); }
    const _amount = sc_0.loadCoins();
    const _seqno = sc_0.loadUintBig(32);
    const _account = sc_0.loadUintBig(256);
    const _to = sc_0.loadAddress();
    const _expiry = sc_0.loadUintBig(32);
    return { $$type: 'DebitApproved' as const, amount: _amount, seqno: _seqno, account: _account, to: _to, expiry: _expiry };
}

export function loadTupleDebitApproved(source: TupleReader) {
    const _amount = source.readBigNumber();
    const _seqno = source.readBigNumber();
    const _account = source.readBigNumber();
    const _to = source.readAddress();
    const _expiry = source.readBigNumber();
    return { $$type: 'DebitApproved' as const, amount: _amount, seqno: _seqno, account: _account, to: _to, expiry: _expiry };
}

export function loadGetterTupleDebitApproved(source: TupleReader) {
    const _amount = source.readBigNumber();
    const _seqno = source.readBigNumber();
    const _account = source.readBigNumber();
    const _to = source.readAddress();
    const _expiry = source.readBigNumber();
    return { $$type: 'DebitApproved' as const, amount: _amount, seqno: _seqno, account: _account, to: _to, expiry: _expiry };
}

export function storeTupleDebitApproved(source: DebitApproved) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.amount);
    builder.writeNumber(source.seqno);
    builder.writeNumber(source.account);
    builder.writeAddress(source.to);
    builder.writeNumber(source.expiry);
    return builder.build();
}

export function dictValueParserDebitApproved(): DictionaryValue<DebitApproved> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeDebitApproved(src)).endCell());
        },
        parse: (src) => {
            return loadDebitApproved(src.loadRef().beginParse());
        }
    }
}

export type Claim = {
    $$type: 'Claim';
    cumulative: bigint;
    to: Address;
}

export function storeClaim(src: Claim) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196821, 32);
        b_0.storeCoins(src.cumulative);
        b_0.storeAddress(src.to);
    };
}

export function loadClaim(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196821) { throw Error('Invalid prefix'); }
    const _cumulative = sc_0.loadCoins();
    const _to = sc_0.loadAddress();
    return { $$type: 'Claim' as const, cumulative: _cumulative, to: _to };
}

export function loadTupleClaim(source: TupleReader) {
    const _cumulative = source.readBigNumber();
    const _to = source.readAddress();
    return { $$type: 'Claim' as const, cumulative: _cumulative, to: _to };
}

export function loadGetterTupleClaim(source: TupleReader) {
    const _cumulative = source.readBigNumber();
    const _to = source.readAddress();
    return { $$type: 'Claim' as const, cumulative: _cumulative, to: _to };
}

export function storeTupleClaim(source: Claim) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.cumulative);
    builder.writeAddress(source.to);
    return builder.build();
}

export function dictValueParserClaim(): DictionaryValue<Claim> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeClaim(src)).endCell());
        },
        parse: (src) => {
            return loadClaim(src.loadRef().beginParse());
        }
    }
}

export type ClaimApproved = {
    $$type: 'ClaimApproved';
    due: bigint;
    cumulative: bigint;
    payee: bigint;
    to: Address;
}

export function storeClaimApproved(src: ClaimApproved) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeUint(1797196822, 32);
        b_0.storeCoins(src.due);
        b_0.storeCoins(src.cumulative);
        b_0.storeUint(src.payee, 256);
        b_0.storeAddress(src.to);
    };
}

export function loadClaimApproved(slice: Slice) {
    const sc_0 = slice;
    if (sc_0.loadUint(32) !== 1797196822) { throw Error('Invalid prefix'); }
    const _due = sc_0.loadCoins();
    const _cumulative = sc_0.loadCoins();
    const _payee = sc_0.loadUintBig(256);
    const _to = sc_0.loadAddress();
    return { $$type: 'ClaimApproved' as const, due: _due, cumulative: _cumulative, payee: _payee, to: _to };
}

export function loadTupleClaimApproved(source: TupleReader) {
    const _due = source.readBigNumber();
    const _cumulative = source.readBigNumber();
    const _payee = source.readBigNumber();
    const _to = source.readAddress();
    return { $$type: 'ClaimApproved' as const, due: _due, cumulative: _cumulative, payee: _payee, to: _to };
}

export function loadGetterTupleClaimApproved(source: TupleReader) {
    const _due = source.readBigNumber();
    const _cumulative = source.readBigNumber();
    const _payee = source.readBigNumber();
    const _to = source.readAddress();
    return { $$type: 'ClaimApproved' as const, due: _due, cumulative: _cumulative, payee: _payee, to: _to };
}

export function storeTupleClaimApproved(source: ClaimApproved) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.due);
    builder.writeNumber(source.cumulative);
    builder.writeNumber(source.payee);
    builder.writeAddress(source.to);
    return builder.build();
}

export function dictValueParserClaimApproved(): DictionaryValue<ClaimApproved> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeClaimApproved(src)).endCell());
        },
        parse: (src) => {
            return loadClaimApproved(src.loadRef().beginParse());
        }
    }
}

export type Totals = {
    $$type: 'Totals';
    deposited: bigint;
    withdrawn: bigint;
    paid: bigint;
    toppedUp: bigint;
    fees: bigint;
}

export function storeTotals(src: Totals) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeCoins(src.deposited);
        b_0.storeCoins(src.withdrawn);
        b_0.storeCoins(src.paid);
        b_0.storeCoins(src.toppedUp);
        b_0.storeCoins(src.fees);
    };
}

export function loadTotals(slice: Slice) {
    const sc_0 = slice;
    const _deposited = sc_0.loadCoins();
    const _withdrawn = sc_0.loadCoins();
    const _paid = sc_0.loadCoins();
    const _toppedUp = sc_0.loadCoins();
    const _fees = sc_0.loadCoins();
    return { $$type: 'Totals' as const, deposited: _deposited, withdrawn: _withdrawn, paid: _paid, toppedUp: _toppedUp, fees: _fees };
}

export function loadTupleTotals(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _paid = source.readBigNumber();
    const _toppedUp = source.readBigNumber();
    const _fees = source.readBigNumber();
    return { $$type: 'Totals' as const, deposited: _deposited, withdrawn: _withdrawn, paid: _paid, toppedUp: _toppedUp, fees: _fees };
}

export function loadGetterTupleTotals(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _paid = source.readBigNumber();
    const _toppedUp = source.readBigNumber();
    const _fees = source.readBigNumber();
    return { $$type: 'Totals' as const, deposited: _deposited, withdrawn: _withdrawn, paid: _paid, toppedUp: _toppedUp, fees: _fees };
}

export function storeTupleTotals(source: Totals) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.deposited);
    builder.writeNumber(source.withdrawn);
    builder.writeNumber(source.paid);
    builder.writeNumber(source.toppedUp);
    builder.writeNumber(source.fees);
    return builder.build();
}

export function dictValueParserTotals(): DictionaryValue<Totals> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeTotals(src)).endCell());
        },
        parse: (src) => {
            return loadTotals(src.loadRef().beginParse());
        }
    }
}

export type AccountState = {
    $$type: 'AccountState';
    deposited: bigint;
    withdrawn: bigint;
    seqno: bigint;
}

export function storeAccountState(src: AccountState) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeCoins(src.deposited);
        b_0.storeCoins(src.withdrawn);
        b_0.storeUint(src.seqno, 32);
    };
}

export function loadAccountState(slice: Slice) {
    const sc_0 = slice;
    const _deposited = sc_0.loadCoins();
    const _withdrawn = sc_0.loadCoins();
    const _seqno = sc_0.loadUintBig(32);
    return { $$type: 'AccountState' as const, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function loadTupleAccountState(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _seqno = source.readBigNumber();
    return { $$type: 'AccountState' as const, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function loadGetterTupleAccountState(source: TupleReader) {
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _seqno = source.readBigNumber();
    return { $$type: 'AccountState' as const, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function storeTupleAccountState(source: AccountState) {
    const builder = new TupleBuilder();
    builder.writeNumber(source.deposited);
    builder.writeNumber(source.withdrawn);
    builder.writeNumber(source.seqno);
    return builder.build();
}

export function dictValueParserAccountState(): DictionaryValue<AccountState> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeAccountState(src)).endCell());
        },
        parse: (src) => {
            return loadAccountState(src.loadRef().beginParse());
        }
    }
}

export type Vault$Data = {
    $$type: 'Vault$Data';
    owner: Address;
    coordinatorKey: bigint;
    nonce: bigint;
    network: bigint;
    totalDeposited: bigint;
    totalWithdrawn: bigint;
    totalPaid: bigint;
    totalToppedUp: bigint;
    totalFees: bigint;
    nextQuery: bigint;
    inflight: Dictionary<bigint, Address>;
}

export function storeVault$Data(src: Vault$Data) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.owner);
        b_0.storeUint(src.coordinatorKey, 256);
        b_0.storeUint(src.nonce, 32);
        b_0.storeInt(src.network, 32);
        b_0.storeCoins(src.totalDeposited);
        b_0.storeCoins(src.totalWithdrawn);
        b_0.storeCoins(src.totalPaid);
        const b_1 = new Builder();
        b_1.storeCoins(src.totalToppedUp);
        b_1.storeCoins(src.totalFees);
        b_1.storeUint(src.nextQuery, 64);
        b_1.storeDict(src.inflight, Dictionary.Keys.BigUint(64), Dictionary.Values.Address());
        b_0.storeRef(b_1.endCell());
    };
}

export function loadVault$Data(slice: Slice) {
    const sc_0 = slice;
    const _owner = sc_0.loadAddress();
    const _coordinatorKey = sc_0.loadUintBig(256);
    const _nonce = sc_0.loadUintBig(32);
    const _network = sc_0.loadIntBig(32);
    const _totalDeposited = sc_0.loadCoins();
    const _totalWithdrawn = sc_0.loadCoins();
    const _totalPaid = sc_0.loadCoins();
    const sc_1 = sc_0.loadRef().beginParse();
    const _totalToppedUp = sc_1.loadCoins();
    const _totalFees = sc_1.loadCoins();
    const _nextQuery = sc_1.loadUintBig(64);
    const _inflight = Dictionary.load(Dictionary.Keys.BigUint(64), Dictionary.Values.Address(), sc_1);
    return { $$type: 'Vault$Data' as const, owner: _owner, coordinatorKey: _coordinatorKey, nonce: _nonce, network: _network, totalDeposited: _totalDeposited, totalWithdrawn: _totalWithdrawn, totalPaid: _totalPaid, totalToppedUp: _totalToppedUp, totalFees: _totalFees, nextQuery: _nextQuery, inflight: _inflight };
}

export function loadTupleVault$Data(source: TupleReader) {
    const _owner = source.readAddress();
    const _coordinatorKey = source.readBigNumber();
    const _nonce = source.readBigNumber();
    const _network = source.readBigNumber();
    const _totalDeposited = source.readBigNumber();
    const _totalWithdrawn = source.readBigNumber();
    const _totalPaid = source.readBigNumber();
    const _totalToppedUp = source.readBigNumber();
    const _totalFees = source.readBigNumber();
    const _nextQuery = source.readBigNumber();
    const _inflight = Dictionary.loadDirect(Dictionary.Keys.BigUint(64), Dictionary.Values.Address(), source.readCellOpt());
    return { $$type: 'Vault$Data' as const, owner: _owner, coordinatorKey: _coordinatorKey, nonce: _nonce, network: _network, totalDeposited: _totalDeposited, totalWithdrawn: _totalWithdrawn, totalPaid: _totalPaid, totalToppedUp: _totalToppedUp, totalFees: _totalFees, nextQuery: _nextQuery, inflight: _inflight };
}

export function loadGetterTupleVault$Data(source: TupleReader) {
    const _owner = source.readAddress();
    const _coordinatorKey = source.readBigNumber();
    const _nonce = source.readBigNumber();
    const _network = source.readBigNumber();
    const _totalDeposited = source.readBigNumber();
    const _totalWithdrawn = source.readBigNumber();
    const _totalPaid = source.readBigNumber();
    const _totalToppedUp = source.readBigNumber();
    const _totalFees = source.readBigNumber();
    const _nextQuery = source.readBigNumber();
    const _inflight = Dictionary.loadDirect(Dictionary.Keys.BigUint(64), Dictionary.Values.Address(), source.readCellOpt());
    return { $$type: 'Vault$Data' as const, owner: _owner, coordinatorKey: _coordinatorKey, nonce: _nonce, network: _network, totalDeposited: _totalDeposited, totalWithdrawn: _totalWithdrawn, totalPaid: _totalPaid, totalToppedUp: _totalToppedUp, totalFees: _totalFees, nextQuery: _nextQuery, inflight: _inflight };
}

export function storeTupleVault$Data(source: Vault$Data) {
    const builder = new TupleBuilder();
    builder.writeAddress(source.owner);
    builder.writeNumber(source.coordinatorKey);
    builder.writeNumber(source.nonce);
    builder.writeNumber(source.network);
    builder.writeNumber(source.totalDeposited);
    builder.writeNumber(source.totalWithdrawn);
    builder.writeNumber(source.totalPaid);
    builder.writeNumber(source.totalToppedUp);
    builder.writeNumber(source.totalFees);
    builder.writeNumber(source.nextQuery);
    builder.writeCell(source.inflight.size > 0 ? beginCell().storeDictDirect(source.inflight, Dictionary.Keys.BigUint(64), Dictionary.Values.Address()).endCell() : null);
    return builder.build();
}

export function dictValueParserVault$Data(): DictionaryValue<Vault$Data> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeVault$Data(src)).endCell());
        },
        parse: (src) => {
            return loadVault$Data(src.loadRef().beginParse());
        }
    }
}

export type AccountWallet$Data = {
    $$type: 'AccountWallet$Data';
    vault: Address;
    account: bigint;
    deposited: bigint;
    withdrawn: bigint;
    seqno: bigint;
}

export function storeAccountWallet$Data(src: AccountWallet$Data) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.vault);
        b_0.storeUint(src.account, 256);
        b_0.storeCoins(src.deposited);
        b_0.storeCoins(src.withdrawn);
        b_0.storeUint(src.seqno, 32);
    };
}

export function loadAccountWallet$Data(slice: Slice) {
    const sc_0 = slice;
    const _vault = sc_0.loadAddress();
    const _account = sc_0.loadUintBig(256);
    const _deposited = sc_0.loadCoins();
    const _withdrawn = sc_0.loadCoins();
    const _seqno = sc_0.loadUintBig(32);
    return { $$type: 'AccountWallet$Data' as const, vault: _vault, account: _account, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function loadTupleAccountWallet$Data(source: TupleReader) {
    const _vault = source.readAddress();
    const _account = source.readBigNumber();
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _seqno = source.readBigNumber();
    return { $$type: 'AccountWallet$Data' as const, vault: _vault, account: _account, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function loadGetterTupleAccountWallet$Data(source: TupleReader) {
    const _vault = source.readAddress();
    const _account = source.readBigNumber();
    const _deposited = source.readBigNumber();
    const _withdrawn = source.readBigNumber();
    const _seqno = source.readBigNumber();
    return { $$type: 'AccountWallet$Data' as const, vault: _vault, account: _account, deposited: _deposited, withdrawn: _withdrawn, seqno: _seqno };
}

export function storeTupleAccountWallet$Data(source: AccountWallet$Data) {
    const builder = new TupleBuilder();
    builder.writeAddress(source.vault);
    builder.writeNumber(source.account);
    builder.writeNumber(source.deposited);
    builder.writeNumber(source.withdrawn);
    builder.writeNumber(source.seqno);
    return builder.build();
}

export function dictValueParserAccountWallet$Data(): DictionaryValue<AccountWallet$Data> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storeAccountWallet$Data(src)).endCell());
        },
        parse: (src) => {
            return loadAccountWallet$Data(src.loadRef().beginParse());
        }
    }
}

export type PayoutWallet$Data = {
    $$type: 'PayoutWallet$Data';
    vault: Address;
    payee: bigint;
    paid: bigint;
}

export function storePayoutWallet$Data(src: PayoutWallet$Data) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.vault);
        b_0.storeUint(src.payee, 256);
        b_0.storeCoins(src.paid);
    };
}

export function loadPayoutWallet$Data(slice: Slice) {
    const sc_0 = slice;
    const _vault = sc_0.loadAddress();
    const _payee = sc_0.loadUintBig(256);
    const _paid = sc_0.loadCoins();
    return { $$type: 'PayoutWallet$Data' as const, vault: _vault, payee: _payee, paid: _paid };
}

export function loadTuplePayoutWallet$Data(source: TupleReader) {
    const _vault = source.readAddress();
    const _payee = source.readBigNumber();
    const _paid = source.readBigNumber();
    return { $$type: 'PayoutWallet$Data' as const, vault: _vault, payee: _payee, paid: _paid };
}

export function loadGetterTuplePayoutWallet$Data(source: TupleReader) {
    const _vault = source.readAddress();
    const _payee = source.readBigNumber();
    const _paid = source.readBigNumber();
    return { $$type: 'PayoutWallet$Data' as const, vault: _vault, payee: _payee, paid: _paid };
}

export function storeTuplePayoutWallet$Data(source: PayoutWallet$Data) {
    const builder = new TupleBuilder();
    builder.writeAddress(source.vault);
    builder.writeNumber(source.payee);
    builder.writeNumber(source.paid);
    return builder.build();
}

export function dictValueParserPayoutWallet$Data(): DictionaryValue<PayoutWallet$Data> {
    return {
        serialize: (src, builder) => {
            builder.storeRef(beginCell().store(storePayoutWallet$Data(src)).endCell());
        },
        parse: (src) => {
            return loadPayoutWallet$Data(src.loadRef().beginParse());
        }
    }
}

 type PayoutWallet_init_args = {
    $$type: 'PayoutWallet_init_args';
    vault: Address;
    payee: bigint;
    paid: bigint;
}

function initPayoutWallet_init_args(src: PayoutWallet_init_args) {
    return (builder: Builder) => {
        const b_0 = builder;
        b_0.storeAddress(src.vault);
        b_0.storeUint(src.payee, 256);
        b_0.storeCoins(src.paid);
    };
}

async function PayoutWallet_init(vault: Address, payee: bigint, paid: bigint) {
    const __code = Cell.fromHex('b5ee9c7241020601000143000228ff008e88f4a413f4bcf2c80bed5320e303ed43d901030129a65cefbb51343e9034fffe8015481b04f6cf1b0c600200022001e03001d072d721d200d200fa4021103450666f04f86102f862ed44d0fa40d3fffa0055206c13048e31028020d7217021d749c21f9430d31f01de82106b1f0c16ba8e14fa00013113a1c855205023cecbff01fa02c9ed54e05f04e002d70d1ff2e0820182106b1f0c15bae3025f04f2c0820401fefa00fa4030f84223c705f2e3f45215a120c200f2e3eb21f8416f24135f03f8276f1001a182081e8480b609f82fa0f8276f1021a1813e8070f836702070f838aa00a0bef2e3f770fb02708100905413467f09c8553082106b1f0c165005cb1f5003fa0201fa02cbffcec92444145077441359c8cf8580ca00cf8440ce01fa02050032806acf40f400c901fb0002c855205023cecbff01fa02c9ed547396fe58');
    const builder = beginCell();
    initPayoutWallet_init_args({ $$type: 'PayoutWallet_init_args', vault, payee, paid })(builder);
    const __data = builder.endCell();
    return { code: __code, data: __data };
}

export const PayoutWallet_errors = {
    2: { message: "Stack underflow" },
    3: { message: "Stack overflow" },
    4: { message: "Integer overflow" },
    5: { message: "Integer out of expected range" },
    6: { message: "Invalid opcode" },
    7: { message: "Type check error" },
    8: { message: "Cell overflow" },
    9: { message: "Cell underflow" },
    10: { message: "Dictionary error" },
    11: { message: "'Unknown' error" },
    12: { message: "Fatal error" },
    13: { message: "Out of gas error" },
    14: { message: "Virtualization error" },
    32: { message: "Action list is invalid" },
    33: { message: "Action list is too long" },
    34: { message: "Action is invalid or not supported" },
    35: { message: "Invalid source address in outbound message" },
    36: { message: "Invalid destination address in outbound message" },
    37: { message: "Not enough Toncoin" },
    38: { message: "Not enough extra currencies" },
    39: { message: "Outbound message does not fit into a cell after rewriting" },
    40: { message: "Cannot process a message" },
    41: { message: "Library reference is null" },
    42: { message: "Library change action error" },
    43: { message: "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree" },
    50: { message: "Account state size exceeded limits" },
    128: { message: "Null reference exception" },
    129: { message: "Invalid serialization prefix" },
    130: { message: "Invalid incoming message" },
    131: { message: "Constraints error" },
    132: { message: "Access denied" },
    133: { message: "Contract stopped" },
    134: { message: "Invalid argument" },
    135: { message: "Code of a contract was not found" },
    136: { message: "Invalid standard address" },
    138: { message: "Not a basechain address" },
} as const

export const PayoutWallet_errors_backward = {
    "Stack underflow": 2,
    "Stack overflow": 3,
    "Integer overflow": 4,
    "Integer out of expected range": 5,
    "Invalid opcode": 6,
    "Type check error": 7,
    "Cell overflow": 8,
    "Cell underflow": 9,
    "Dictionary error": 10,
    "'Unknown' error": 11,
    "Fatal error": 12,
    "Out of gas error": 13,
    "Virtualization error": 14,
    "Action list is invalid": 32,
    "Action list is too long": 33,
    "Action is invalid or not supported": 34,
    "Invalid source address in outbound message": 35,
    "Invalid destination address in outbound message": 36,
    "Not enough Toncoin": 37,
    "Not enough extra currencies": 38,
    "Outbound message does not fit into a cell after rewriting": 39,
    "Cannot process a message": 40,
    "Library reference is null": 41,
    "Library change action error": 42,
    "Exceeded maximum number of cells in the library or the maximum depth of the Merkle tree": 43,
    "Account state size exceeded limits": 50,
    "Null reference exception": 128,
    "Invalid serialization prefix": 129,
    "Invalid incoming message": 130,
    "Constraints error": 131,
    "Access denied": 132,
    "Contract stopped": 133,
    "Invalid argument": 134,
    "Code of a contract was not found": 135,
    "Invalid standard address": 136,
    "Not a basechain address": 138,
} as const

const PayoutWallet_types: ABIType[] = [
    {"name":"DataSize","header":null,"fields":[{"name":"cells","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bits","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"refs","type":{"kind":"simple","type":"int","optional":false,"format":257}}]},
    {"name":"SignedBundle","header":null,"fields":[{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}},{"name":"signedData","type":{"kind":"simple","type":"slice","optional":false,"format":"remainder"}}]},
    {"name":"StateInit","header":null,"fields":[{"name":"code","type":{"kind":"simple","type":"cell","optional":false}},{"name":"data","type":{"kind":"simple","type":"cell","optional":false}}]},
    {"name":"Context","header":null,"fields":[{"name":"bounceable","type":{"kind":"simple","type":"bool","optional":false}},{"name":"sender","type":{"kind":"simple","type":"address","optional":false}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"raw","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"SendParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"code","type":{"kind":"simple","type":"cell","optional":true}},{"name":"data","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"MessageParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}}]},
    {"name":"DeployParameters","header":null,"fields":[{"name":"mode","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"body","type":{"kind":"simple","type":"cell","optional":true}},{"name":"value","type":{"kind":"simple","type":"int","optional":false,"format":257}},{"name":"bounce","type":{"kind":"simple","type":"bool","optional":false}},{"name":"init","type":{"kind":"simple","type":"StateInit","optional":false}}]},
    {"name":"StdAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":8}},{"name":"address","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"VarAddress","header":null,"fields":[{"name":"workchain","type":{"kind":"simple","type":"int","optional":false,"format":32}},{"name":"address","type":{"kind":"simple","type":"slice","optional":false}}]},
    {"name":"BasechainAddress","header":null,"fields":[{"name":"hash","type":{"kind":"simple","type":"int","optional":true,"format":257}}]},
    {"name":"Deposit","header":1797196801,"fields":[{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"Withdraw","header":1797196802,"fields":[{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"expiry","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}}]},
    {"name":"Redeem","header":1797196803,"fields":[{"name":"payee","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"cumulative","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"expiry","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"signature","type":{"kind":"simple","type":"fixed-bytes","optional":false,"format":64}}]},
    {"name":"SetCoordinatorKey","header":1797196804,"fields":[{"name":"key","type":{"kind":"simple","type":"uint","optional":false,"format":256}}]},
    {"name":"DepositCredited","header":1797196929,"fields":[{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}}]},
    {"name":"CreditAccount","header":1797196817,"fields":[{"name":"queryId","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}}]},
    {"name":"AccountCredited","header":1797196818,"fields":[{"name":"queryId","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}}]},
    {"name":"Debit","header":1797196819,"fields":[{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"expiry","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}}]},
    {"name":"DebitApproved","header":1797196820,"fields":[{"name":"amount","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}},{"name":"expiry","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"Claim","header":1797196821,"fields":[{"name":"cumulative","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}}]},
    {"name":"ClaimApproved","header":1797196822,"fields":[{"name":"due","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"cumulative","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"payee","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"to","type":{"kind":"simple","type":"address","optional":false}}]},
    {"name":"Totals","header":null,"fields":[{"name":"deposited","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"withdrawn","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"paid","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"toppedUp","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"fees","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}}]},
    {"name":"AccountState","header":null,"fields":[{"name":"deposited","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"withdrawn","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"Vault$Data","header":null,"fields":[{"name":"owner","type":{"kind":"simple","type":"address","optional":false}},{"name":"coordinatorKey","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"nonce","type":{"kind":"simple","type":"uint","optional":false,"format":32}},{"name":"network","type":{"kind":"simple","type":"int","optional":false,"format":32}},{"name":"totalDeposited","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"totalWithdrawn","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"totalPaid","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"totalToppedUp","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"totalFees","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"nextQuery","type":{"kind":"simple","type":"uint","optional":false,"format":64}},{"name":"inflight","type":{"kind":"dict","key":"uint","keyFormat":64,"value":"address"}}]},
    {"name":"AccountWallet$Data","header":null,"fields":[{"name":"vault","type":{"kind":"simple","type":"address","optional":false}},{"name":"account","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"deposited","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"withdrawn","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}},{"name":"seqno","type":{"kind":"simple","type":"uint","optional":false,"format":32}}]},
    {"name":"PayoutWallet$Data","header":null,"fields":[{"name":"vault","type":{"kind":"simple","type":"address","optional":false}},{"name":"payee","type":{"kind":"simple","type":"uint","optional":false,"format":256}},{"name":"paid","type":{"kind":"simple","type":"uint","optional":false,"format":"coins"}}]},
]

const PayoutWallet_opcodes = {
    "Deposit": 1797196801,
    "Withdraw": 1797196802,
    "Redeem": 1797196803,
    "SetCoordinatorKey": 1797196804,
    "DepositCredited": 1797196929,
    "CreditAccount": 1797196817,
    "AccountCredited": 1797196818,
    "Debit": 1797196819,
    "DebitApproved": 1797196820,
    "Claim": 1797196821,
    "ClaimApproved": 1797196822,
}

const PayoutWallet_getters: ABIGetter[] = [
    {"name":"paid","methodId":95166,"arguments":[],"returnType":{"kind":"simple","type":"int","optional":false,"format":257}},
]

export const PayoutWallet_getterMapping: { [key: string]: string } = {
    'paid': 'getPaid',
}

const PayoutWallet_receivers: ABIReceiver[] = [
    {"receiver":"internal","message":{"kind":"typed","type":"Claim"}},
]

export const ERR_BAD_SIGNATURE = 1001n;
export const ERR_EXPIRED = 1002n;
export const ERR_NOTHING_TO_PAY = 1003n;
export const ERR_OVER_BALANCE = 1004n;
export const ERR_NOT_OWNER = 1005n;
export const ERR_UNATTRIBUTED = 1006n;
export const ERR_BAD_SEQNO = 1007n;
export const ERR_DEPOSIT_TOO_SMALL = 1008n;
export const ERR_VAULT_INSOLVENT = 1009n;
export const ERR_BAD_AMOUNT = 1010n;
export const ERR_BAD_DESTINATION = 1011n;
export const ERR_NOT_VAULT = 1012n;
export const ERR_NOT_WALLET = 1013n;
export const ERR_UNKNOWN_DEPOSIT = 1014n;
export const ERR_LOW_VALUE = 1015n;
export const ERR_WRONG_NETWORK = 1016n;
export const TAG_WITHDRAW = 1668249393n;
export const TAG_VOUCHER = 1668249138n;
export const DEPOSIT_PREFIX = 7234312000420541498n;
export const DEPOSIT_FEE = 25000000n;
export const MIN_DEPOSIT = 100000000n;
export const CREDIT_VALUE = 10000000n;
export const WALLET_STORAGE = 2000000n;
export const PAYOUT_GAS = 30000n;
export const ONWARD_GAS = 16000n;
export const HEX_NIB = 6811299366900952671974763824040465167839410862684739061144563765171360567055n;
export const HEX_ONE = 454086624460063511464984254936031011189294057512315937409637584344757371137n;
export const HEX_M16 = 450552876409790643671482431940419874915447411150352389258589821042463539455n;
export const HEX_M32 = 1766820105243087041267848467410591083712559083657179364930612997358944255n;
export const HEX_M64 = 26959946660873538060741835960174461801791452538186943042387869433855n;
export const HEX_M128 = 6277101735386680763495507056286727952657427581105975853055n;
export const HEX_ZERO = 21796157974083048550319244236929488537086114760591164995662604048548353814576n;
export const HEX_76 = 53582221686287494352868142082451659320336698786453280614337234952681369794166n;

export class PayoutWallet implements Contract {
    
    public static readonly storageReserve = 0n;
    public static readonly errors = PayoutWallet_errors_backward;
    public static readonly opcodes = PayoutWallet_opcodes;
    
    static async init(vault: Address, payee: bigint, paid: bigint) {
        return await PayoutWallet_init(vault, payee, paid);
    }
    
    static async fromInit(vault: Address, payee: bigint, paid: bigint) {
        const __gen_init = await PayoutWallet_init(vault, payee, paid);
        const address = contractAddress(0, __gen_init);
        return new PayoutWallet(address, __gen_init);
    }
    
    static fromAddress(address: Address) {
        return new PayoutWallet(address);
    }
    
    readonly address: Address; 
    readonly init?: { code: Cell, data: Cell };
    readonly abi: ContractABI = {
        types:  PayoutWallet_types,
        getters: PayoutWallet_getters,
        receivers: PayoutWallet_receivers,
        errors: PayoutWallet_errors,
    };
    
    constructor(address: Address, init?: { code: Cell, data: Cell }) {
        this.address = address;
        this.init = init;
    }
    
    async send(provider: ContractProvider, via: Sender, args: { value: bigint, bounce?: boolean| null | undefined }, message: Claim) {
        
        let body: Cell | null = null;
        if (message && typeof message === 'object' && !(message instanceof Slice) && message.$$type === 'Claim') {
            body = beginCell().store(storeClaim(message)).endCell();
        }
        if (body === null) { throw new Error('Invalid message type'); }
        
        await provider.internal(via, { ...args, body: body });
        
    }
    
    async getPaid(provider: ContractProvider) {
        const builder = new TupleBuilder();
        const source = (await provider.get('paid', builder.build())).stack;
        const result = source.readBigNumber();
        return result;
    }
    
}